/* SPDX-License-Identifier: MIT */
/* The corpus replay that runs in the normal test suite, shared by every fuzz target: each file
 * of the corpus directory (argv[1]), then the target's own generated inputs (fuzz_generated:
 * too big or too deep to commit). A crash, an abort or a sanitizer report fails the test; so
 * does an empty or unreadable corpus, an input that takes longer than its time budget
 * (FUZZ_BUDGET_MS, default 2000 ms, 60 s in an AddressSanitizer build), and,
 * with a verdict file (argv[2]), a corpus entry whose verdict is not the expected one:
 *
 *   # FILE   EXPECTED VERDICT (against fuzz_verdict()'s line; '*' matches any text, nothing
 *   #        else is special, so field paths like peers[0] need no escaping)
 *   doc-bad-cidr.json   envelope rejected: * | document rejected: *is not a CIDR*
 *
 * Every corpus file needs a line and every line a file, so the corpus and its verdicts cannot
 * drift apart. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "util.h"

static size_t fed;
static int failed;
/* The budget catches inputs that go quadratic; AddressSanitizer's allocator alone makes the large
 * inputs some 60 times slower (20000 peers: 0.36 s plain, 22 s instrumented), so it gets 60 s. */
#if defined(__SANITIZE_ADDRESS__)
#define BUDGET_MS 60000
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BUDGET_MS 60000
#endif
#endif
#ifndef BUDGET_MS
#define BUDGET_MS 2000
#endif
static double budget_ms = BUDGET_MS, slowest_ms;
static char slowest[256];

void fuzz_feed(const char *what, const uint8_t *data, size_t size) {
        struct timespec a, b;

        clock_gettime(CLOCK_MONOTONIC, &a);
        LLVMFuzzerTestOneInput(data, size);
        clock_gettime(CLOCK_MONOTONIC, &b);
        fed++;
        double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
        if (ms > slowest_ms) {
                slowest_ms = ms;
                snprintf(slowest, sizeof(slowest), "%s (%zu bytes)", what, size);
        }
        if (ms > budget_ms) {
                printf("FAIL: %s: %zu bytes took %.0f ms, over the %.0f ms budget per input\n", what, size, ms,
                       budget_ms);
                failed = 1;
        } else if (ms > 100)
                printf("%s: %zu bytes, %.0f ms\n", what, size, ms);
}

/* '*' matches any run of characters; everything else matches itself */
static bool star_match(const char *pat, const char *s) {
        const char *star = NULL, *retry = NULL;

        while (*s) {
                if (*pat == '*') {
                        star = pat++;
                        retry = s;
                } else if (*pat == *s) {
                        pat++;
                        s++;
                } else if (star) {
                        pat = star + 1;
                        s = ++retry;
                } else
                        return false;
        }
        while (*pat == '*')
                pat++;
        return *pat == 0;
}

struct expect {
        char *file, *pattern;
        bool seen;
};

static int load_verdicts(const char *path, struct expect **ret, size_t *ret_n) {
        FILE *f = fopen(path, "re");
        struct expect *v = NULL;
        size_t n = 0;
        char *line = NULL;
        size_t cap = 0;

        if (!f) {
                perror(path);
                return -1;
        }
        while (getline(&line, &cap, f) > 0) {
                char *p = line, *file, *pat, *end;

                line[strcspn(line, "\n")] = 0;
                p += strspn(p, " \t");
                if (*p == 0 || *p == '#')
                        continue;
                file = p;
                p += strcspn(p, " \t");
                if (*p == 0) {
                        fprintf(stderr, "%s: no verdict for %s\n", path, file);
                        free(line);
                        fclose(f);
                        return -1;
                }
                *p++ = 0;
                pat = p + strspn(p, " \t");
                for (end = pat + strlen(pat); end > pat && (end[-1] == ' ' || end[-1] == '\t'); end--)
                        end[-1] = 0;
                v = realloc(v, (n + 1) * sizeof(*v));
                if (!v)
                        abort();
                v[n++] = (struct expect){ .file = strdup(file), .pattern = strdup(pat) };
        }
        free(line);
        fclose(f);
        *ret = v;
        *ret_n = n;
        return 0;
}

static void check_verdict(const char *name, const uint8_t *data, size_t len, struct expect *v, size_t n) {
        char verdict[2400];

        fuzz_verdict(data, len, verdict, sizeof(verdict));
        for (size_t i = 0; i < n; i++)
                if (strcmp(v[i].file, name) == 0) {
                        v[i].seen = true;
                        if (star_match(v[i].pattern, verdict)) {
                                printf("ok %s: %s\n", name, verdict);
                        } else {
                                printf("FAIL: %s: verdict \"%s\", expected \"%s\"\n", name, verdict, v[i].pattern);
                                failed = 1;
                        }
                        return;
                }
        printf("FAIL: %s: no expected verdict in the verdict file (it says: %s)\n", name, verdict);
        failed = 1;
}

int main(int argc, char **argv) {
        struct dirent **ents;
        struct expect *v = NULL;
        size_t files = 0, n_v = 0;
        const char *b = getenv("FUZZ_BUDGET_MS");
        int n;

        if (argc != 2 && argc != 3) {
                fprintf(stderr, "usage: %s CORPUS_DIR [VERDICT_FILE]\n", argv[0]);
                return 2;
        }
        if (b && *b)
                budget_ms = atof(b);
        if (argc == 3 && load_verdicts(argv[2], &v, &n_v) < 0)
                return 1;
        n = scandir(argv[1], &ents, NULL, alphasort);
        if (n < 0) {
                perror(argv[1]);
                return 1;
        }
        for (int i = 0; i < n; i++) {
                char path[4096], *buf = NULL;
                size_t len;

                snprintf(path, sizeof(path), "%s/%s", argv[1], ents[i]->d_name);
                if (ents[i]->d_name[0] != '.') {
                        if (wf_read_file(path, 64u << 20, &buf, &len) == 0) {
                                fuzz_feed(path, (const uint8_t *)buf, len);
                                if (argc == 3)
                                        check_verdict(ents[i]->d_name, (const uint8_t *)buf, len, v, n_v);
                                files++;
                        } else {
                                fprintf(stderr, "%s: unreadable\n", path);
                                failed = 1;
                        }
                }
                free(buf);
                free(ents[i]);
        }
        free(ents);
        for (size_t i = 0; i < n_v; i++) {
                if (!v[i].seen) {
                        printf("FAIL: %s: in the verdict file but not in the corpus\n", v[i].file);
                        failed = 1;
                }
                free(v[i].file);
                free(v[i].pattern);
        }
        free(v);
        fuzz_generated();
        printf("replayed %zu corpus files and %zu inputs in all; slowest %.1f ms: %s (budget %.0f ms)\n", files,
               fed, slowest_ms, slowest, budget_ms);
        return files > 0 ? failed : 1;
}
