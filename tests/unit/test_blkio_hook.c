/*
 * libbpf has one print hook for the whole process. The storage source's
 * loader (src/sources/disk/ebpf.c) installs its own only while it holds its
 * lock, keeps its own thread's messages, forwards other threads' messages to
 * the hook that was there, and puts that hook back. A host program with its
 * own hook, and meters made in two threads at once, must both come out
 * whole: the host's hook is installed afterwards, it received every message
 * of the host's own libbpf calls made meanwhile, and none of the meters'.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "energymeter/energymeter.h"
#include "testclock.h"

#ifdef EM_TEST_HAVE_BPF
#include <bpf/libbpf.h>

/* Who calls libbpf: the test itself, the threads that make meters, the
 * thread that stands for the host's own use of libbpf meanwhile. */
enum { MAIN, METER, HOST, NROLES };
static _Thread_local int role = MAIN;
static atomic_int received[NROLES];
static atomic_int meter_threads_left;

static int host_hook(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    (void)level;
    (void)fmt;
    (void)ap;
    atomic_fetch_add(&received[role], 1);
    return 0;
}

/* A libbpf call that fails and prints (a debug line and a warning). */
static void open_missing(void)
{
    bpf_object__close(bpf_object__open_file("/nonexistent/energymeter-test.bpf.o", NULL));
}

/* Does the eBPF storage method work here (root, kernel BTF)? */
static int ebpf_usable(char *why, size_t whysz)
{
    char *json = NULL;
    if (em_list_sources(EM_FORMAT_JSON, &json) != EM_OK) {
        snprintf(why, whysz, "em_list_sources() failed");
        return 0;
    }
    const char *zone = strstr(json, "{\"name\": \"ebpf-block\"");
    const char *used = zone ? strstr(zone, "\"used\": ") : NULL;
    int ok = used && strncmp(used, "\"used\": true", 12) == 0;
    const char *reason = used ? strstr(used, "\"reason\": \"") : NULL;
    if (!ok && reason)
        snprintf(why, whysz, "%.*s", (int)strcspn(reason + 11, "\""), reason + 11);
    else if (!ok)
        snprintf(why, whysz, "no usable ebpf-block zone in the list of sources");
    em_free(json);
    return ok;
}

#define ROUNDS 4

static void *make_meters(void *arg)
{
    role = METER;
    int *failures = arg;
    for (int i = 0; i < ROUNDS; i++) {
        em_meter *m = NULL;
        if (em_meter_new(NULL, &m) != EM_OK) {
            (*failures)++;
            continue;
        }
        em_meter_free(m);
    }
    atomic_fetch_sub(&meter_threads_left, 1);
    return NULL;
}

/* The host's own libbpf calls, for as long as meters are being made. */
static void *host_calls(void *arg)
{
    role = HOST;
    int *calls = arg;
    const struct timespec pause = {.tv_nsec = 200000};
    while (atomic_load(&meter_threads_left) > 0) {
        open_missing();
        (*calls)++;
        nanosleep(&pause, NULL);
    }
    return NULL;
}

static void test_hook_restored(void **state)
{
    (void)state;
    char why[256];
    if (under_valgrind()) {
        /* valgrind reports libbpf's own bpf() attributes as uninitialised
         * (libbpf 1.1) and needs minutes for the loads; AddressSanitizer
         * (make check-asan) runs this test. */
        printf("skipped: valgrind cannot follow libbpf's bpf() system calls\n");
        skip();
    }
    if (!ebpf_usable(why, sizeof why)) {
        printf("skipped: eBPF storage cannot be used here: %s\n", why);
        skip();
    }
    libbpf_print_fn_t before = libbpf_set_print(host_hook);
    open_missing();
    int per_call = atomic_load(&received[MAIN]);
    assert_true(per_call > 0);

    pthread_t t[3];
    int failures[2] = {0, 0}, calls = 0;
    atomic_store(&meter_threads_left, 2);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, make_meters, &failures[i]), 0);
    assert_int_equal(pthread_create(&t[2], NULL, host_calls, &calls), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);

    assert_int_equal(failures[0] + failures[1], 0);
    /* Every message of the host's calls reached its hook, through ours or
     * not; none of the meters' did. */
    assert_int_equal(atomic_load(&received[HOST]), calls * per_call);
    assert_int_equal(atomic_load(&received[METER]), 0);
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
