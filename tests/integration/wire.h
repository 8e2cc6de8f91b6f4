/* Raw protocol access for the wire suites: a TCP connection to the test's
 * rmemd and whole-buffer send/receive, so that a suite can send frames
 * librmem never would (bad ones, request id 0, pipelined ones). */
#ifndef RMEM_TEST_WIRE_H
#define RMEM_TEST_WIRE_H

#include <stddef.h>

#include "harness.h"

/* Connected to d on loopback, TCP_NODELAY, a 10 s receive timeout. */
int  wire_connect(const struct rmemd *d);
void wire_send_all(int fd, const void *buf, size_t len);
/* 0, or -1 when the peer closed or reset the connection. */
int  wire_recv_all(int fd, void *buf, size_t len);

#endif
