/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "ctl-guard.h"

struct conn {
        struct conn *prev, *next;
        int fd;
        bool in_request;      /* headers complete, request being handled: not timed */
        bool dropped;
        struct timespec since; /* accept or end of the previous request */
};

struct ctl_guard {
        pthread_mutex_t lock; /* guards everything below */
        pthread_cond_t wake;
        bool stopping;
        struct conn *head;
        unsigned timeout_s;
        unsigned long dropped;
        pthread_t thread;
        bool thread_started;
};

static double elapsed_s(const struct timespec *since, const struct timespec *now) {
        return (double)(now->tv_sec - since->tv_sec) + (double)(now->tv_nsec - since->tv_nsec) / 1e9;
}

/* Once a second: shut down connections whose headers are overdue. shutdown() (not close())
 * wakes the connection's thread with end-of-file; libmicrohttpd then closes the socket itself.
 * The entry leaves the list (MHD_CONNECTION_NOTIFY_CLOSED) before libmicrohttpd closes the
 * descriptor, so a descriptor in the list is never a reused one. */
static void *watchdog(void *userdata) {
        struct ctl_guard *g = userdata;
        struct timespec now, until;

        pthread_mutex_lock(&g->lock);
        while (!g->stopping) {
                clock_gettime(CLOCK_MONOTONIC, &now);
                for (struct conn *c = g->head; c; c = c->next)
                        if (!c->in_request && !c->dropped && elapsed_s(&c->since, &now) >= g->timeout_s) {
                                (void)shutdown(c->fd, SHUT_RDWR);
                                c->dropped = true;
                                g->dropped++;
                        }
                until = now;
                until.tv_sec += 1;
                (void)pthread_cond_timedwait(&g->wake, &g->lock, &until);
        }
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

int ctl_guard_new(unsigned header_timeout_s, struct ctl_guard **ret) {
        struct ctl_guard *g = calloc(1, sizeof(*g));
        pthread_condattr_t ca;
        int r;

        if (!g)
                return -ENOMEM;
        g->timeout_s = header_timeout_s;
        pthread_mutex_init(&g->lock, NULL);
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&g->wake, &ca);
        pthread_condattr_destroy(&ca);
        r = pthread_create(&g->thread, NULL, watchdog, g);
        if (r != 0) {
                ctl_guard_free(g);
                return -r;
        }
        g->thread_started = true;
        *ret = g;
        return 0;
}

void ctl_guard_free(struct ctl_guard *g) {
        if (!g)
                return;
        if (g->thread_started) {
                pthread_mutex_lock(&g->lock);
                g->stopping = true;
                pthread_cond_signal(&g->wake);
                pthread_mutex_unlock(&g->lock);
                pthread_join(g->thread, NULL);
        }
        while (g->head) {
                struct conn *c = g->head;
                g->head = c->next;
                free(c);
        }
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
}

void ctl_guard_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                      enum MHD_ConnectionNotificationCode toe) {
        struct ctl_guard *g = cls;
        struct conn *c = *socket_context;
        const union MHD_ConnectionInfo *ci;

        if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
                ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
                if (!ci || !(c = calloc(1, sizeof(*c))))
                        return; /* not guarded; the idle timeout still applies */
                c->fd = ci->connect_fd;
                clock_gettime(CLOCK_MONOTONIC, &c->since);
                pthread_mutex_lock(&g->lock);
                c->next = g->head;
                if (g->head)
                        g->head->prev = c;
                g->head = c;
                pthread_mutex_unlock(&g->lock);
                *socket_context = c;
        } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && c) {
                pthread_mutex_lock(&g->lock);
                if (c->prev)
                        c->prev->next = c->next;
                else
                        g->head = c->next;
                if (c->next)
                        c->next->prev = c->prev;
                pthread_mutex_unlock(&g->lock);
                free(c);
                *socket_context = NULL;
        }
}

static struct conn *conn_of(struct MHD_Connection *mc) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return ci ? ci->socket_context : NULL;
}

void ctl_guard_headers_in(struct ctl_guard *g, struct MHD_Connection *mc) {
        struct conn *c = conn_of(mc);

        if (!c)
                return;
        pthread_mutex_lock(&g->lock);
        c->in_request = true;
        pthread_mutex_unlock(&g->lock);
}

void ctl_guard_request_done(struct ctl_guard *g, struct MHD_Connection *mc) {
        struct conn *c = conn_of(mc);

        if (!c)
                return;
        pthread_mutex_lock(&g->lock);
        c->in_request = false;
        clock_gettime(CLOCK_MONOTONIC, &c->since);
        pthread_mutex_unlock(&g->lock);
}

unsigned long ctl_guard_dropped(struct ctl_guard *g) {
        unsigned long n;

        pthread_mutex_lock(&g->lock);
        n = g->dropped;
        pthread_mutex_unlock(&g->lock);
        return n;
}
