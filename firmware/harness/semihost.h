/* The semihosting calls the test harness needs (files, console, exit), written here: no newlib rdimon. */
#ifndef WATTCAST_SEMIHOST_H
#define WATTCAST_SEMIHOST_H

#include <stdint.h>

/* One semihosting call: operation, argument block; the result the debugger leaves (the core's own sequence). */
int32_t sh_call(int32_t op, const void *arg);

/* Opens a host file ("rb" or "wb"); returns a handle or -1. */
int32_t sh_open(const char *path, int write);
/* Reads exactly `len` bytes; returns 0 on success, -1 on a short read. */
int32_t sh_read_exact(int32_t handle, void *buf, uint32_t len);
void sh_close(int32_t handle);
/* Writes a NUL-terminated string to the host console. */
void sh_puts(const char *s);
/* Ends the emulation with this exit code (0 or 1 under QEMU's AArch32 semihosting). */
void sh_exit(int32_t code) __attribute__((noreturn));

#endif /* WATTCAST_SEMIHOST_H */
