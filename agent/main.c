/* SPDX-License-Identifier: MIT */
#include <stdio.h>

int main(int argc, char **argv) {
        fprintf(stderr, "wgfleet-agent: not yet\n");
        return 2;
}
