"""`weboslb bench`: throughput and memory of the persistence table, side by side with baselines."""
