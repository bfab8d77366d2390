/*
 * Included first in every file of a build with tcc (the Tiny C Compiler),
 * which "make demo" uses on an amd64 machine without a C compiler
 * (scripts/deps.sh demo): what gcc predefines and the headers of Debian 12
 * rely on, and tcc 0.9.27 lacks.  Not used by any other build.
 *
 * - __amd64__: nginx's ngx_atomic.h takes its amd64 atomics (inline asm,
 *   which tcc compiles) only under this name; without it nginx falls back to
 *   plain reads and writes, and the module's signature (NGX_HAVE_ATOMIC_OPS)
 *   no longer matches Debian's nginx, which refuses to load it.
 * - __REDIRECT_NTHNL: glibc 2.36's <glob.h> needs it with
 *   _FILE_OFFSET_BITS=64 (nginx's); tcc defines __REDIRECT and
 *   __REDIRECT_NTH only.
 * - __atomic_add_fetch and __atomic_sub_fetch: <jansson.h>'s inline
 *   json_incref() and json_decref() use them on the reference count (a
 *   size_t); here a locked xadd, atomic as with gcc.
 */

#ifndef FARM_TCC_COMPAT_H
#define FARM_TCC_COMPAT_H

#if defined __TINYC__ && defined __x86_64__

#define __amd64__  1
#define __amd64    1

#ifndef __REDIRECT_NTHNL
#define __REDIRECT_NTHNL(name, proto, alias)  name proto __asm__ (#alias)
#endif

#define __ATOMIC_ACQUIRE  2
#define __ATOMIC_RELEASE  3

static inline unsigned long
farm_tcc_xadd(volatile unsigned long *p, unsigned long add)
{
    __asm__ __volatile__ ("lock; xaddq %0, %1"
                          : "+r" (add), "+m" (*p) : : "memory");
    return add;     /* the value before the addition */
}

#define __atomic_add_fetch(p, v, order)  (farm_tcc_xadd((p), (v)) + (v))
#define __atomic_sub_fetch(p, v, order)  (farm_tcc_xadd((p), -(v)) - (v))

#endif

#endif
