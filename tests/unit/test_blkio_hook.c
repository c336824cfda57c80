/*
 * libbpf has one print hook for the whole process. The storage source's
 * loader (src/sources/disk/ebpf.c) installs its own only while it holds its
 * lock, forwards other threads' messages to the hook that was there, and
 * puts that hook back. A host program with its own hook, and meters made in
 * two threads at once, must both come out whole.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "energymeter/energymeter.h"
#include "testclock.h"

#ifdef EM_TEST_HAVE_BPF
#include <bpf/libbpf.h>

static int host_hook(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    (void)fmt;
    (void)ap;
    return 0;
}

/* Does the eBPF storage method work here (root, kernel BTF)? */
static int ebpf_usable(char *why, size_t whysz)
{
    char *json = NULL;
    if (em_list_sources(EM_FORMAT_JSON, &json) != EM_OK)
        return 0;
    const char *zone = strstr(json, "{\"name\": \"ebpf-block\"");
    const char *used = zone ? strstr(zone, "\"used\": ") : NULL;
    int ok = used && strncmp(used, "\"used\": true", 12) == 0;
    const char *reason = used ? strstr(used, "\"reason\": \"") : NULL;
    if (!ok)
        snprintf(why, whysz, "%.*s", reason ? 200 : 40,
                 reason ? reason + 11 : "eBPF storage is not listed as usable");
    em_free(json);
    return ok;
}

#define ROUNDS 4

static void *make_meters(void *arg)
{
    int *failures = arg;
    for (int i = 0; i < ROUNDS; i++) {
        em_meter *m = NULL;
        if (em_meter_new(NULL, &m) != EM_OK) {
            (*failures)++;
            continue;
        }
        em_meter_free(m);
    }
    return NULL;
}

static void test_hook_restored(void **state)
{
    (void)state;
    char why[256];
    if (under_valgrind()) {
        /* valgrind does not model the bpf() commands libbpf makes (it calls
         * their attributes uninitialised); AddressSanitizer runs this test. */
        printf("skipped: valgrind cannot follow libbpf's bpf() system calls\n");
        skip();
    }
    if (!ebpf_usable(why, sizeof why)) {
        printf("skipped: eBPF storage cannot be used here: %s\n", why);
        skip();
    }
    libbpf_print_fn_t before = libbpf_set_print(host_hook);
    pthread_t t[2];
    int failures[2] = {0, 0};
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, make_meters, &failures[i]), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_int_equal(failures[0] + failures[1], 0);
    /* The host's hook is the one installed, after both threads' meters. */
    assert_ptr_equal(libbpf_set_print(before), host_hook);
}

#else

static void test_hook_restored(void **state)
{
    (void)state;
    printf("skipped: built without eBPF (no libbpf print hook to keep)\n");
    skip();
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hook_restored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
