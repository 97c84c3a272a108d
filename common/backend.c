/* SPDX-License-Identifier: MIT */
#include <stddef.h>

#include "backend.h"

const struct backend_ops *backend_ops_for(enum config_backend b) {
        switch (b) {
        case CONFIG_BACKEND_LINUX:
                return &backend_linux_ops;
        case CONFIG_BACKEND_UAPI:
                return &backend_uapi_ops;
        case CONFIG_BACKEND_ROUTEROS:
                return &backend_routeros_ops;
        default:
                return NULL;
        }
}
