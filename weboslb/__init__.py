"""weboslb: an emulator of an Alteon / Nortel Web OS L4/L7 application switch."""

__version__ = "0.1.0"
