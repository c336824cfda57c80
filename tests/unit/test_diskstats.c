/*
 * Storage fallbacks (src/diskstats.c) and the disk model (src/disk_model.c)
 * on fake trees: /proc/diskstats with partitions, a loop device and a dm
 * device stacked on a partition; /proc/self/io; the whole meter with eBPF
 * disabled (ENERGYMETER_NO_BPF=1), in system and tree scope.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>

#include "sources/disk/disk.h"
#include "fakefs.h"

/* sda (hardware) with two partitions, loop0 (virtual), dm-0 on sda2. */
static void fake_disks(struct fakefs *f)
{
    fakefs_mkdir_p(f, "proc");
    fakefs_mkdir_p(f, "sys/block");
    fakefs_mkdir_p(f, "sys/devices/pci0000:00/0000:00:10.0/block/sda/sda1");
    fakefs_mkdir_p(f, "sys/devices/pci0000:00/0000:00:10.0/block/sda/sda2");
    fakefs_mkdir_p(f, "sys/devices/pci0000:00/0000:00:10.0/block/sda/slaves");
    fakefs_write(f, "sys/devices/pci0000:00/0000:00:10.0/block/sda/dev", "8:0\n");
    fakefs_symlink(f, "../devices/pci0000:00/0000:00:10.0/block/sda", "sys/block/sda");
    fakefs_mkdir_p(f, "sys/devices/virtual/block/loop0/slaves");
    fakefs_write(f, "sys/devices/virtual/block/loop0/dev", "7:0\n");
    fakefs_symlink(f, "../devices/virtual/block/loop0", "sys/block/loop0");
    fakefs_mkdir_p(f, "sys/devices/virtual/block/dm-0/slaves/sda2");
    fakefs_write(f, "sys/devices/virtual/block/dm-0/dev", "253:0\n");
    fakefs_symlink(f, "../devices/virtual/block/dm-0", "sys/block/dm-0");
}

/* One /proc/diskstats: sda's own line already includes its partitions. */
static void write_diskstats(struct fakefs *f, unsigned long long sda_rsect,
                            unsigned long long sda_wsect, unsigned long long sda_ticks,
                            unsigned long long loop_wsect)
{
    char text[2048];
    fakefs_fmt(text, sizeof text,
               "   7       0 loop0 0 0 0 0 9 0 %llu 0 0 3 3 0 0 0 0 0 0\n"
               "   8       0 sda 100 0 %llu 50 200 0 %llu 70 0 %llu 120 0 0 0 0 0 0\n"
               "   8       1 sda1 60 0 999999 30 100 0 999999 35 0 7 65 0 0 0 0\n"
               "   8       2 sda2 40 0 888888 20 100 0 888888 35 0 7 55\n"
               " 253       0 dm-0 40 0 777777 20 100 0 777777 35 0 7 55 0 0 0 0 0 0\n",
               loop_wsect, sda_rsect, sda_wsect, sda_ticks);
    fakefs_write(f, "proc/diskstats", text);
}

static void test_list(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fake_disks(&fs);
    struct em_disk_list l;
    assert_int_equal(em_disk_list_read(fs.root, &l), 0);
    assert_int_equal(l.n, 3);
    const struct em_disk_info *sda = em_disk_list_find(&l, "sda");
    const struct em_disk_info *loop = em_disk_list_find(&l, "loop0");
    const struct em_disk_info *dm = em_disk_list_find(&l, "dm-0");
    assert_non_null(sda);
    assert_non_null(loop);
    assert_non_null(dm);
    assert_int_equal(sda->dev, 8u << 20);
    assert_false(sda->virt);
    assert_false(sda->stacked);
    assert_true(loop->virt);
    assert_false(loop->stacked);
    assert_true(dm->stacked);
    assert_ptr_equal(em_disk_list_find_dev(&l, 7u << 20), loop);
    assert_null(em_disk_list_find(&l, "sda1"));
    em_disk_list_free(&l);
    fakefs_cleanup(&fs);
}

/* Partitions are folded into their disk (skipped), dm is skipped (its I/O
 * is sda2's), loop0 is kept. */
static void test_diskstats_read(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fake_disks(&fs);
    write_diskstats(&fs, 2048, 4096, 1500, 64);
    struct em_disk_set s = {0};
    assert_int_equal(em_diskstats_read(fs.root, &s), 0);
    assert_int_equal(s.n, 2);
    struct em_disk_stat *sda = em_disk_set_find(&s, "sda");
    assert_non_null(sda);
    assert_null(em_disk_set_find(&s, "sda1"));
    assert_null(em_disk_set_find(&s, "dm-0"));
    assert_int_equal(sda->read_bytes, 2048 * 512);
    assert_int_equal(sda->write_bytes, 4096 * 512);
    assert_int_equal(sda->reads, 100);
    assert_int_equal(sda->writes, 200);
    assert_true(fabs(sda->busy_s - 1.5) < 1e-9);
    assert_int_equal(sda->dev, 8u << 20);
    struct em_disk_stat *loop = em_disk_set_find(&s, "loop0");
    assert_non_null(loop);
    assert_int_equal(loop->write_bytes, 64 * 512);
    em_disk_set_free(&s);
    fakefs_cleanup(&fs);
}

static void test_diskstats_malformed(void **state)
{
    (void)state;
    struct em_disk_info sda = {.name = "sda"};
    struct em_disk_list l = {.v = &sda, .n = 1};
    struct em_disk_set s = {0};
    assert_int_equal(em_diskstats_parse("   8 0 sda 1 2 3\n", &l, &s), EM_ERR_FORMAT);
    assert_int_equal(em_diskstats_parse("8 0 sda x 0 0 0 0 0 0 0 0 0 0\n", &l, &s), EM_ERR_FORMAT);
    /* Empty lines and a file without a final newline are fine. */
    assert_int_equal(em_diskstats_parse("\n8 0 sda 1 0 2 0 3 0 4 0 0 5 0", &l, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.v[0].write_bytes, 4 * 512);
    em_disk_set_free(&s);
    /* No /sys/block: not found, never a guess. */
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_mkdir_p(&fs, "proc");
    write_diskstats(&fs, 1, 1, 1, 1);
    assert_int_equal(em_diskstats_read(fs.root, &s), EM_ERR_NOT_FOUND);
    em_disk_set_free(&s);
    fakefs_cleanup(&fs);
}

static void test_procio(void **state)
{
    (void)state;
    struct em_disk_stat st;
    assert_int_equal(em_procio_parse("rchar: 5\nwchar: 6\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\n"
                                     "write_bytes: 1048576\ncancelled_write_bytes: 4096\n",
                                     &st),
                     0);
    assert_int_equal(st.read_bytes, 4096);
    assert_int_equal(st.write_bytes, 1048576 - 4096);
    assert_true(isnan(st.busy_s));
    /* A kernel without task I/O accounting has no such lines. */
    assert_int_equal(em_procio_parse("rchar: 5\nwchar: 6\n", &st), EM_ERR_FORMAT);
}

static void test_power_lookup(void **state)
{
    (void)state;
    double a = -1, i = -1;
    const char *list = "sda:5:1,/dev/nvme0n1:8.5:2.25,loop0:0:0";
    assert_int_equal(em_disk_power_lookup(list, "sda", &a, &i), 1);
    assert_true(a == 5 && i == 1);
    assert_int_equal(em_disk_power_lookup(list, "nvme0n1", &a, &i), 1);
    assert_true(a == 8.5 && i == 2.25);
    assert_int_equal(em_disk_power_lookup(list, "/dev/loop0", &a, &i), 1);
    assert_true(a == 0 && i == 0);
    assert_int_equal(em_disk_power_lookup(list, "sd", &a, &i), 0);
    assert_int_equal(em_disk_power_lookup(list, "sdb", &a, &i), 0);
    assert_int_equal(em_disk_power_lookup(NULL, "sda", &a, &i), 0);
    assert_int_equal(em_disk_power_lookup("sda:x:1", "sda", &a, &i), 0);
}

/* --------------------------------------------------------- whole meter */

static int disk_index(const em_report *r)
{
    int k = em_report_find(r, "disk");
    assert_true(k >= 0);
    return k;
}

static int has_warning(const em_report *r, const char *needle)
{
    for (size_t i = 0; i < em_report_warning_count(r); i++)
        if (strstr(em_report_warning(r, i), needle))
            return 1;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* System scope without eBPF: diskstats deltas, busy-time model, loop0
 * reported but given no energy, dm-0 and partitions never counted twice. */
static void test_meter_system_fallback(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fake_disks(&fs);
    setenv("ENERGYMETER_NO_BPF", "1", 1);
    write_diskstats(&fs, 0, 0, 1000, 0);
    em_options o;
    em_options_init(&o);
    o.disk_scope = EM_DISK_SCOPE_SYSTEM;
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_begin(m), 0);
    /* +1 MiB read, +2 MiB written, 250 ms busy on sda; 64 KiB on loop0. */
    write_diskstats(&fs, 2048, 4096, 1250, 128);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    size_t k = (size_t)disk_index(r);
    assert_int_equal(em_component_status(r, k), EM_STATUS_ESTIMATED);
    assert_string_equal(em_component_source(r, k), "diskstats");
    assert_true(em_component_number(r, k, "read_bytes") == 1048576);
    assert_true(em_component_number(r, k, "write_bytes") == 2097152);
    assert_true(fabs(em_component_number(r, k, "busy_s") - 0.25) < 1e-9);
    assert_string_equal(em_component_string(r, k, "model"), "busy-time");
    assert_string_equal(em_component_string(r, k, "scope"), "system");
    /* 0.25 s x 6 W (the default), loop0: 0 J in system scope. */
    assert_true(fabs(em_component_joules(r, k) - 1.5) < 1e-9);
    assert_int_equal(em_component_device_count(r, k), 2);
    for (size_t d = 0; d < 2; d++) {
        const char *name = em_device_name(r, k, d);
        if (strcmp(name, "loop0") == 0)
            assert_true(em_device_joules(r, k, d) == 0);
        else
            assert_string_equal(name, "sda");
    }
    assert_true(has_warning(r, "default powers 6 W active / 1.42 W idle"));
    assert_true(has_warning(r, "diskstats fallback: eBPF disabled by ENERGYMETER_NO_BPF"));
    assert_true(fabs(em_report_total_joules(r) - 1.5) < 1e-9);
    em_meter_free(m);

    /* Per-device powers, include_idle, and no default-power warning. */
    o.disk_power = "sda:10:2";
    o.include_idle = 1;
    write_diskstats(&fs, 0, 0, 1000, 0);
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_begin(m), 0);
    sleep_ms(60);
    write_diskstats(&fs, 0, 8, 1020, 0); /* 20 ms busy */
    assert_int_equal(em_end(m), 0);
    r = em_meter_report(m);
    k = (size_t)disk_index(r);
    double dur = em_report_duration_s(r);
    assert_true(dur > 0.05);
    double want = 0.02 * 10 + (dur - 0.02) * 2;
    assert_true(fabs(em_component_joules(r, k) - want) < 1e-6);
    assert_false(has_warning(r, "default powers"));
    em_meter_free(m);

    unsetenv("ENERGYMETER_NO_BPF");
    fakefs_cleanup(&fs);
}

/* Tree scope without eBPF: /proc/self/io, bytes/speed model. */
static void test_meter_tree_fallback(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_mkdir_p(&fs, "proc/self");
    setenv("ENERGYMETER_NO_BPF", "1", 1);
    fakefs_write(&fs, "proc/self/io",
                 "read_bytes: 1000\nwrite_bytes: 0\ncancelled_write_bytes: 0\n");
    em_options o;
    em_options_init(&o);
    o.disk_avg_speed = 1e6;
    o.disk_active_power = 4;
    o.disk_idle_power = 1;
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_begin(m), 0);
    fakefs_write(&fs, "proc/self/io",
                 "read_bytes: 501000\nwrite_bytes: 600000\ncancelled_write_bytes: 100000\n");
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    size_t k = (size_t)disk_index(r);
    assert_int_equal(em_component_status(r, k), EM_STATUS_ESTIMATED);
    assert_string_equal(em_component_source(r, k), "proc-io");
    assert_true(em_component_number(r, k, "read_bytes") == 500000);
    assert_true(em_component_number(r, k, "write_bytes") == 500000);
    assert_true(isnan(em_component_number(r, k, "busy_s")));
    assert_string_equal(em_component_string(r, k, "model"), "bytes/speed");
    /* 1e6 bytes / 1e6 B/s = 1 s active, x 4 W. */
    assert_true(fabs(em_component_joules(r, k) - 4.0) < 1e-9);
    assert_false(has_warning(r, "default powers"));
    assert_true(has_warning(r, "no busy time"));
    em_meter_free(m);
    unsetenv("ENERGYMETER_NO_BPF");
    fakefs_cleanup(&fs);
}

/* /proc/self/io in the fake tree: what the tree has read and written. */
static void write_procio(struct fakefs *fs, unsigned long long rb, unsigned long long wb)
{
    char text[160];
    snprintf(text, sizeof text, "read_bytes: %llu\nwrite_bytes: %llu\ncancelled_write_bytes: 0\n",
             rb, wb);
    fakefs_write(fs, "proc/self/io", text);
}

/* Named windows that overlap one another and a begin()/end() window each
 * get the bytes between their own edges (the source's snapshots). */
static void test_named_windows_disk(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    fakefs_mkdir_p(&fs, "proc/self");
    setenv("ENERGYMETER_NO_BPF", "1", 1);
    write_procio(&fs, 0, 1000);
    em_options o;
    em_options_init(&o);
    o.disk_avg_speed = 1e6;
    o.disk_active_power = 4;
    o.disk_idle_power = 1;
    em_meter *m = NULL;
    em_report *ra = NULL, *rb = NULL;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_window_begin(m, "a"), 0);
    write_procio(&fs, 0, 5000);
    assert_int_equal(em_begin(m), 0);
    write_procio(&fs, 200, 9000);
    assert_int_equal(em_window_begin(m, "b"), 0);
    write_procio(&fs, 300, 21000);
    assert_int_equal(em_window_end(m, "a", &ra), 0);
    write_procio(&fs, 300, 22000);
    assert_int_equal(em_end(m), 0);
    write_procio(&fs, 1300, 22000);
    assert_int_equal(em_window_end(m, "b", &rb), 0);
    const em_report *rp = em_meter_report(m);
    const struct {
        const em_report *r;
        double rd, wr;
    } want[] = {{ra, 300, 20000}, {rp, 300, 17000}, {rb, 1100, 13000}};
    for (size_t i = 0; i < 3; i++) {
        const em_report *r = want[i].r;
        size_t k = (size_t)disk_index(r);
        assert_int_equal(em_component_status(r, k), EM_STATUS_ESTIMATED);
        assert_string_equal(em_component_source(r, k), "proc-io");
        if (em_component_number(r, k, "read_bytes") != want[i].rd ||
            em_component_number(r, k, "write_bytes") != want[i].wr)
            fail_msg("window %zu: read %.0f written %.0f, want %.0f and %.0f", i,
                     em_component_number(r, k, "read_bytes"),
                     em_component_number(r, k, "write_bytes"), want[i].rd, want[i].wr);
        /* bytes / 1e6 B/s active at 4 W (no idle term without include_idle). */
        double j = 4 * (want[i].rd + want[i].wr) / 1e6;
        assert_true(fabs(em_component_joules(r, k) - j) < 1e-6);
    }
    em_report_free(ra);
    em_report_free(rb);
    em_meter_free(m);
    unsetenv("ENERGYMETER_NO_BPF");
    fakefs_cleanup(&fs);
}

/* --ignore-disk, and nothing usable at all (an empty tree). */
static void test_meter_unavailable(void **state)
{
    (void)state;
    struct fakefs fs;
    fakefs_init(&fs);
    setenv("ENERGYMETER_NO_BPF", "1", 1);
    em_options o;
    em_options_init(&o);
    o.ignore_disk = 1;
    em_meter *m = NULL;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    em_report *r = em_meter_report(m);
    size_t k = (size_t)disk_index(r);
    assert_int_equal(em_component_status(r, k), EM_STATUS_UNAVAILABLE);
    assert_string_equal(em_component_reason(r, k), "ignored (--ignore-disk)");
    assert_true(isnan(em_component_joules(r, k)));
    em_meter_free(m);

    o.ignore_disk = 0;
    assert_int_equal(em_meter_new(&o, &m), 0);
    assert_int_equal(em_begin(m), 0);
    assert_int_equal(em_end(m), 0);
    r = em_meter_report(m);
    k = (size_t)disk_index(r);
    assert_int_equal(em_component_status(r, k), EM_STATUS_UNAVAILABLE);
    const char *why = em_component_reason(r, k);
    assert_non_null(strstr(why, "ENERGYMETER_NO_BPF"));
    assert_non_null(strstr(why, "/proc/self/io"));
    assert_non_null(strstr(why, "CAP_BPF"));
    em_meter_free(m);
    unsetenv("ENERGYMETER_NO_BPF");
    fakefs_cleanup(&fs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_diskstats_read),
        cmocka_unit_test(test_diskstats_malformed),
        cmocka_unit_test(test_procio),
        cmocka_unit_test(test_power_lookup),
        cmocka_unit_test(test_meter_system_fallback),
        cmocka_unit_test(test_meter_tree_fallback),
        cmocka_unit_test(test_named_windows_disk),
        cmocka_unit_test(test_meter_unavailable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
