/*
 * standalone.c - a main() for the libFuzzer targets of csrc/fuzz/, for builds without
 * libFuzzer (plain gcc with -fsanitize=address,undefined).
 *
 * It runs every corpus file given (files, or directories of files, read in name order), then
 * deterministic mutations of them: a fixed seed gives the same inputs on every machine.  Each
 * mutant stacks one to four edits - bit flips, byte and word sets (interesting values, lengths
 * near the buffer's), small additions, truncations, erasures, insertions of random bytes or of
 * protocol tokens, copies of its own chunks, and splices with another corpus file - on either
 * a corpus file or the previous mutant (a random walk reaches deeper than one edit can).
 * Every input is handed to the target in a heap buffer of exactly its size.
 *
 * When the target fails (a sanitizer report, a FUZZ_CHECK abort, a signal) the input is
 * written to <dir>/crash-<fnv1a hex> and its path printed, for a regression corpus.
 *
 * usage: standalone [-n MUTATIONS] [-s SEED] [-t SECONDS] [-m MAX_LEN] [-o DIR] [PATH ...]
 *   -n  mutations to run after the corpus (default 20000); with -t, the most run
 *   -t  stop mutating after this many seconds (default: no limit)
 *   -m  longest mutant (default 4096; corpus files are run whole)
 *   -o  where a failing input is written (default .)
 * Prints "standalone: ok: ..." with the number of executions, and exits 0, when all pass.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The sanitizer runtime calls this just before it exits on an error (weak: a build without
 * sanitizers still links, and keeps its crash files through the signal handlers). */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

typedef struct {
    uint8_t *p;
    size_t n;
} blob;

static blob *corpus;
static size_t ncorpus, corpus_cap;

/* the input being run, for the crash file */
static const uint8_t *cur_p;
static size_t cur_n;
static const char *out_dir = ".";
static volatile sig_atomic_t dumped;

/* ---- random ----------------------------------------------------------------------------- */

static uint64_t rng;

static uint64_t rnd(void)     /* splitmix64: every seed, 0 included, gives a good stream */
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static size_t below(size_t n)  /* uniform-enough in [0, n), n > 0 */
{
    return (size_t)(rnd() % n);
}

/* ---- crash files ------------------------------------------------------------------------ */

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

/* Async-signal-safe enough: open/write/close, and a path built by hand. */
static void dump_input(void)
{
    if (dumped || cur_p == NULL)
        return;
    dumped = 1;
    char path[4096];
    uint64_t h = fnv1a(cur_p, cur_n);
    size_t k = strlen(out_dir);
    if (k > sizeof path - 40)
        k = sizeof path - 40;
    memcpy(path, out_dir, k);
    memcpy(path + k, "/crash-", 7);
    k += 7;
    for (int i = 15; i >= 0; i--)
        path[k++] = "0123456789abcdef"[(h >> (4 * i)) & 15];
    path[k] = 0;
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(cur_p, 1, cur_n, f);
        fclose(f);
    }
    fprintf(stderr, "standalone: failing input (%zu bytes) written to %s\n", cur_n, path);
}

static void on_signal(int sig)
{
    dump_input();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ---- the corpus ------------------------------------------------------------------------- */

static void add(uint8_t *p, size_t n)
{
    if (ncorpus == corpus_cap) {
        corpus_cap = corpus_cap ? 2 * corpus_cap : 64;
        corpus = realloc(corpus, corpus_cap * sizeof *corpus);
        if (!corpus) {
            perror("standalone: realloc");
            exit(2);
        }
    }
    corpus[ncorpus++] = (blob){p, n};
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap);
    for (size_t got; p && (got = fread(p + n, 1, cap - n, f)) > 0;) {
        n += got;
        if (n == cap)
            p = realloc(p, cap *= 2);
    }
    fclose(f);
    if (!p) {
        fprintf(stderr, "standalone: %s: out of memory\n", path);
        exit(2);
    }
    add(p, n);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "standalone: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap)
            names = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof *names);
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[n] = malloc(len);
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    if (n)  /* readdir's order is not deterministic */
        qsort(names, n, sizeof *names, by_name);
    for (size_t i = 0; i < n; i++) {
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode))
            load_file(names[i]);
        free(names[i]);
    }
    free(names);
}

/* ---- running ---------------------------------------------------------------------------- */

static void run_one(const uint8_t *p, size_t n)
{
    uint8_t *copy = malloc(n);     /* exactly n bytes: a read past them is reported */
    if (n)
        memcpy(copy, p, n);
    cur_p = copy;
    cur_n = n;
    LLVMFuzzerTestOneInput(copy, n);
    cur_p = NULL;
    free(copy);
}

/* ---- mutations -------------------------------------------------------------------------- */

static const char *const TOKENS[] = {
    "\r\n", "\r\n\r\n", "\n\n", " ", ";", "=", ":", ",", "|", "(", ")", "*", "::", ".",
    "HTTP/1.1", "HTTP/1.0 200 OK", "GET / ", "Cookie: ", "Set-Cookie: ", "Host: ", "?", "&",
    "PORT ", "EPRT |1|", "EPRT |2|", "227 (", "229 (|||", "255", "256", "65535", "65536",
    "\x16\x03\x01", "\x16\x03\x03\x00", "\x01\x00\x00", "\x02\x00\x00", "\x00\x2b",
    "\x0a\x0d\x0d\x0a", "\x1a\x2b\x3c\x4d", "\x4d\x3c\x2b\x1a", "\xd4\xc3\xb2\xa1",
    "\x08\x00\x45", "\x86\xdd\x60", "\x81\x00", "\x88\xa8",
};
static const uint32_t INTERESTING[] = {
    0, 1, 2, 3, 4, 7, 8, 12, 16, 20, 28, 32, 40, 64, 127, 128, 255, 256, 512, 1000, 1024,
    4096, 8192, 32767, 32768, 65535, 65536, 0x7fffffff, 0x80000000u, 0xfffffffeu, 0xffffffffu,
};

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf_t;

static void put_word(buf_t *b, size_t at, uint32_t v, int width, int big)
{
    for (int i = 0; i < width && at + (size_t)i < b->n; i++) {
        int shift = big ? 8 * (width - 1 - i) : 8 * i;
        b->p[at + (size_t)i] = (uint8_t)(v >> shift);
    }
}

/* Opens a gap of k bytes at `at` (fewer if the buffer is full); returns the gap's size. */
static size_t gap(buf_t *b, size_t at, size_t k)
{
    if (k > b->cap - b->n)
        k = b->cap - b->n;
    memmove(b->p + at + k, b->p + at, b->n - at);
    b->n += k;
    return k;
}

static void mutate_once(buf_t *b)
{
    size_t at = b->n ? below(b->n) : 0;
    switch (below(14)) {
    case 0:     /* flip a bit */
        if (b->n)
            b->p[at] ^= (uint8_t)(1u << below(8));
        break;
    case 1:     /* a random byte */
        if (b->n)
            b->p[at] = (uint8_t)rnd();
        break;
    case 2: {   /* an interesting byte, word or double word, in either byte order */
        int width = (int)(1u << below(3));
        uint32_t v = INTERESTING[below(sizeof INTERESTING / sizeof *INTERESTING)];
        if (below(4) == 0)  /* a length near the buffer's own */
            v = (uint32_t)(b->n + below(9) - 4);
        put_word(b, at, v, width, (int)below(2));
        break;
    }
    case 3:     /* a small addition to a byte or a big-endian word (a length off by a few) */
        if (b->n) {
            int d = (int)below(33) - 16;
            if (below(2) && at + 1 < b->n) {
                uint32_t v = (uint32_t)b->p[at] << 8 | b->p[at + 1];
                put_word(b, at, v + (uint32_t)d, 2, 1);
            } else {
                b->p[at] = (uint8_t)(b->p[at] + d);
            }
        }
        break;
    case 4:     /* truncate */
        b->n = at;
        break;
    case 5: {   /* erase a range */
        size_t k = b->n - at ? 1 + below(b->n - at < 64 ? b->n - at : 64) : 0;
        memmove(b->p + at, b->p + at + k, b->n - at - k);
        b->n -= k;
        break;
    }
    case 6: {   /* insert random bytes */
        size_t k = gap(b, at, 1 + below(16));
        for (size_t i = 0; i < k; i++)
            b->p[at + i] = (uint8_t)rnd();
        break;
    }
    case 7: {   /* insert a run of one byte */
        uint8_t c = below(2) ? (uint8_t)rnd() : b->n ? b->p[below(b->n)] : 0;
        size_t k = gap(b, at, 1 + below(below(8) ? 16 : 1024));
        memset(b->p + at, c, k);
        break;
    }
    case 8:
    case 9: {   /* insert or overwrite with a protocol token */
        const char *t = TOKENS[below(sizeof TOKENS / sizeof *TOKENS)];
        size_t k = strlen(t);
        if (below(2))
            k = gap(b, at, k);
        else if (k > b->n - at)
            k = b->n - at;
        memcpy(b->p + at, t, k);
        break;
    }
    case 10: {  /* copy a chunk of itself elsewhere (insert) */
        if (!b->n)
            break;
        size_t from = below(b->n), k = 1 + below(b->n - from < 128 ? b->n - from : 128);
        uint8_t tmp[128];
        memcpy(tmp, b->p + from, k);
        k = gap(b, at, k);
        memcpy(b->p + at, tmp, k);
        break;
    }
    case 11: {  /* splice: our prefix, another corpus file's suffix */
        const blob *o = &corpus[below(ncorpus)];
        size_t from = o->n ? below(o->n) : 0, k = o->n - from;
        if (k > b->cap - at)
            k = b->cap - at;
        memcpy(b->p + at, o->p + from, k);
        b->n = at + k;
        break;
    }
    case 12: {  /* insert a chunk of another corpus file */
        const blob *o = &corpus[below(ncorpus)];
        if (!o->n)
            break;
        size_t from = below(o->n), k = 1 + below(o->n - from < 256 ? o->n - from : 256);
        k = gap(b, at, k);
        memcpy(b->p + at, o->p + from, k);
        break;
    }
    default: {  /* swap two bytes */
        if (b->n < 2)
            break;
        size_t j = below(b->n);
        uint8_t c = b->p[at];
        b->p[at] = b->p[j];
        b->p[j] = c;
    }
    }
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    uint64_t mutations = 20000, seed = 1;
    double limit = 0;
    size_t max_len = 4096;
    int opt;
    while ((opt = getopt(argc, argv, "n:s:t:m:o:")) != -1) {
        switch (opt) {
        case 'n':
            mutations = strtoull(optarg, NULL, 0);
            break;
        case 's':
            seed = strtoull(optarg, NULL, 0);
            break;
        case 't':
            limit = strtod(optarg, NULL);
            break;
        case 'm':
            max_len = strtoull(optarg, NULL, 0);
            break;
        case 'o':
            out_dir = optarg;
            break;
        default:
            fprintf(stderr, "usage: %s [-n MUTATIONS] [-s SEED] [-t SECONDS] [-m MAX_LEN] "
                            "[-o DIR] [PATH ...]\n", argv[0]);
            return 2;
        }
    }
    rng = seed;
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(dump_input);
    signal(SIGABRT, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGFPE, on_signal);
    signal(SIGBUS, on_signal);
    signal(SIGILL, on_signal);
    for (int i = optind; i < argc; i++)
        load_path(argv[i]);
    if (ncorpus == 0)
        add(calloc(1, 1), 0);

    double start = seconds();
    uint64_t execs = 0;
    for (size_t i = 0; i < ncorpus; i++, execs++)
        run_one(corpus[i].p, corpus[i].n);
    size_t longest = max_len;
    for (size_t i = 0; i < ncorpus; i++)
        if (corpus[i].n > longest)
            longest = corpus[i].n;
    buf_t b = {.p = malloc(longest + 1), .n = 0, .cap = max_len};
    uint64_t done = 0;
    for (; done < mutations; done++, execs++) {
        if (limit > 0 && (done & 255) == 0 && seconds() - start > limit)
            break;
        if (done == 0 || below(2)) {    /* a fresh start from a corpus file, else walk on */
            const blob *o = &corpus[below(ncorpus)];
            b.n = o->n < max_len ? o->n : max_len;
            memcpy(b.p, o->p, b.n);
        }
        for (size_t k = 1 + below(4); k; k--)
            mutate_once(&b);
        run_one(b.p, b.n);
    }
    double took = seconds() - start;
    printf("standalone: ok: %llu executions (%zu corpus inputs, %llu mutations, seed %llu) "
           "in %.1f s, %.0f/s\n", (unsigned long long)execs, ncorpus,
           (unsigned long long)done, (unsigned long long)seed, took,
           took > 0 ? (double)execs / took : 0.0);
    free(b.p);
    for (size_t i = 0; i < ncorpus; i++)
        free(corpus[i].p);
    free(corpus);
    return 0;
}
