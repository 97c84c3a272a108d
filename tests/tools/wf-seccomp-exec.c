/* SPDX-License-Identifier: MIT */
/* wf-seccomp-exec: runs a command under the seccomp part of a systemd unit's sandbox, for the
 * tests that run the agent "as shipped" without a service manager (tests/tools/unit-sandbox
 * derives the options from the unit file):
 *
 *   wf-seccomp-exec [--allow NAME]... [--errno N] [--families AF_X,AF_Y] [--mdwe]
 *                   [--restrict-namespaces] [--restrict-realtime] [--umask OCTAL] -- CMD [ARG]...
 *
 * --allow: SystemCallFilter= as a flat allowlist (groups already expanded, denied names already
 * removed); every other native syscall fails with --errno (SystemCallErrorNumber=; without it
 * the process is killed, as systemd does), a foreign-architecture syscall kills
 * (SystemCallArchitectures=native). --families: RestrictAddressFamilies= (socket() with another
 * family fails with EAFNOSUPPORT). --mdwe: MemoryDenyWriteExecute=. --restrict-namespaces:
 * RestrictNamespaces=yes. --restrict-realtime: RestrictRealtime=. Needs no_new_privs (setpriv
 * --no-new-privs) or CAP_SYS_ADMIN. */
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int die(const char *what, int r) {
        fprintf(stderr, "wf-seccomp-exec: %s: %s\n", what, strerror(r < 0 ? -r : r));
        return 1;
}

static int family_of(const char *name) {
        static const struct { const char *n; int af; } t[] = {
                { "AF_UNIX", AF_UNIX }, { "AF_INET", AF_INET }, { "AF_INET6", AF_INET6 },
                { "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                if (strcmp(t[i].n, name) == 0)
                        return t[i].af;
        return -1;
}

/* The second filter: default allow, specific argument checks deny. The kernel applies the
 * strictest verdict of all loaded filters, so this composes with the allowlist. */
static int load_arg_filter(const bool *fam_ok, bool families, bool mdwe, bool ns, bool rt) {
        scmp_filter_ctx c = seccomp_init(SCMP_ACT_ALLOW);
        int r = 0;

        if (!c)
                return -ENOMEM;
        if (families) {
                for (int af = 0; af < AF_MAX && r == 0; af++)
                        if (!fam_ok[af])
                                r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                                     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af));
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                             SCMP_A0(SCMP_CMP_GE, AF_MAX));
        }
        if (mdwe && r == 0) {
                r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
                                     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE));
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
                                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pkey_mprotect), 1,
                                             SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC));
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(shmat), 1,
                                             SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC));
        }
        if (ns && r == 0) {
                static const unsigned long flags[] = { CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER,
                                                       CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP };
                r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 0);
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(setns), 0);
                /* clone3 passes its flags in memory: systemd answers ENOSYS so libc falls back */
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
                for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]) && r == 0; i++)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                             SCMP_A0(SCMP_CMP_MASKED_EQ, flags[i], flags[i]));
        }
        if (rt && r == 0) {
                r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sched_setscheduler), 1,
                                     SCMP_A1(SCMP_CMP_EQ, SCHED_FIFO));
                if (r == 0)
                        r = seccomp_rule_add(c, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(sched_setscheduler), 1,
                                             SCMP_A1(SCMP_CMP_EQ, SCHED_RR));
        }
        if (r == 0)
                r = seccomp_load(c);
        seccomp_release(c);
        return r;
}

int main(int argc, char **argv) {
        static const struct option lo[] = {
                { "allow", required_argument, NULL, 'a' },    { "errno", required_argument, NULL, 'e' },
                { "families", required_argument, NULL, 'f' }, { "mdwe", no_argument, NULL, 'm' },
                { "restrict-namespaces", no_argument, NULL, 'n' },
                { "restrict-realtime", no_argument, NULL, 'r' }, { "umask", required_argument, NULL, 'u' },
                {},
        };
        char **allow = calloc((size_t)argc, sizeof(char *));
        size_t n_allow = 0;
        bool fam_ok[AF_MAX] = { false }, families = false, mdwe = false, ns = false, rt = false;
        int err = -1, c, r, unknown = 0;
        scmp_filter_ctx ctx;

        if (!allow)
                return die("calloc", ENOMEM);
        while ((c = getopt_long(argc, argv, "+", lo, NULL)) >= 0)
                switch (c) {
                case 'a': allow[n_allow++] = optarg; break;
                case 'e': err = atoi(optarg); break;
                case 'f':
                        families = true;
                        for (char *s = strtok(optarg, ", "); s; s = strtok(NULL, ", ")) {
                                int af = family_of(s);
                                if (af < 0) {
                                        fprintf(stderr, "wf-seccomp-exec: unknown address family %s\n", s);
                                        return 2;
                                }
                                fam_ok[af] = true;
                        }
                        break;
                case 'm': mdwe = true; break;
                case 'n': ns = true; break;
                case 'r': rt = true; break;
                case 'u': umask((mode_t)strtol(optarg, NULL, 8)); break;
                default: return 2;
                }
        if (optind >= argc) {
                fprintf(stderr, "usage: wf-seccomp-exec [options] -- CMD [ARG]...\n");
                return 2;
        }
        if (families || mdwe || ns || rt) {
                r = load_arg_filter(fam_ok, families, mdwe, ns, rt);
                if (r < 0)
                        return die("argument filter", r);
        }
        if (n_allow > 0) {
                ctx = seccomp_init(err >= 0 ? SCMP_ACT_ERRNO((unsigned)err) : SCMP_ACT_KILL_PROCESS);
                if (!ctx)
                        return die("seccomp_init", ENOMEM);
                for (size_t i = 0; i < n_allow; i++) {
                        int nr = seccomp_syscall_resolve_name(allow[i]);
                        if (nr == __NR_SCMP_ERROR) {
                                unknown++; /* a name this architecture does not have */
                                continue;
                        }
                        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
                        if (r < 0 && r != -EEXIST)
                                return die(allow[i], r);
                }
                /* the exec below must still work */
                r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(execve), 0);
                if (r < 0 && r != -EEXIST)
                        return die("execve", r);
                r = seccomp_load(ctx);
                seccomp_release(ctx);
                if (r < 0)
                        return die("seccomp_load", r);
        }
        execvp(argv[optind], argv + optind);
        return die(argv[optind], errno);
}
