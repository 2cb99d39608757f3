/*
 * nbcount: a QEMU (7.2, system mode) TCG plugin that counts executed instructions per translation
 * block (TB) and per pipeline stage of noisebudget firmware.
 *
 *   qemu-system-arm ... -plugin ./libnbcount.so,out=FILE,marks=0xADDR[,nmarks=128][,warmup=1]
 *
 * Stage markers: the firmware stores a byte to nb_stage_marks[2*id + end] (firmware_templates/boards/
 * nb_stage.h). `marks` is the address of that array (read from the ELF by convert/measure.py). The
 * marker store is preceded by MOVW/MOVT (its address) and followed by ISB (which ends the TB), so the
 * plugin can split the marker's TB exactly: instructions before the MOVW count in the old context,
 * the 4 marker instructions count in a dedicated MARKER context, instructions after the ISB (none,
 * as ISB ends the TB) in the new context. Stage id 0 is the hop (NB_HOP_BEGIN/END); the first
 * `warmup` hops are counted in the WARMUP context.
 *
 * Context of an executed instruction: the innermost open stage id (0..63) during a measured hop,
 * WARMUP (65) during a warm-up hop, OUTSIDE (64) when no stage is open, MARKER (66) for marker code.
 *
 * Output (text, written at exit): the TB list with raw instruction bytes (classified in Python by
 * convert/isa.py), per TB and context the execution counts of the head/tail parts and, for the
 * TB's last instruction, how often the next executed TB was the fall-through (branch not taken) or
 * another address (taken), and the marker event log with the number of (non-marker) instructions
 * executed before each event. Format: see convert/measure.py (parse_plugin_output).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nb_qemu_plugin_api.h"

NB_QEMU_PLUGIN_EXPORT int qemu_plugin_version = NB_QEMU_PLUGIN_API_VERSION;

#define NB_MAX_IDS 64
#define CTX_OUTSIDE 64
#define CTX_WARMUP 65
#define CTX_MARKER 66
#define NCTX 67
#define MAX_DEPTH 32

typedef struct TB {
    uint64_t vaddr;
    uint32_t n;        /* instructions */
    uint32_t nbytes;   /* bytes of all instructions */
    uint8_t *bytes;    /* concatenated raw instruction bytes */
    uint8_t *sizes;    /* size of each instruction (2 or 4) */
    int32_t mstore;    /* index of the marker store, -1 while none seen */
    int32_t head_end;  /* head = insns [0, head_end) */
    int32_t tail_start;/* tail = insns [tail_start, n) */
    uint32_t index;
    uint64_t head[NCTX], tail[NCTX], taken[NCTX], fall[NCTX];
    struct TB *next;
} TB;

typedef struct {
    TB *tb;
    uint32_t idx;
} InsnRef;

typedef struct {
    uint32_t code;
    uint64_t stamp;
} Event;

static char *out_path;
static uint64_t marks_base;
static uint64_t marks_n = 2 * NB_MAX_IDS;
static unsigned warmup = 1;

static TB *tb_list, *tb_last;
static uint32_t tb_count;
static TB *prev_tb;
static int prev_ctx = CTX_OUTSIDE;

static int cur_ctx = CTX_OUTSIDE;
static int stack[MAX_DEPTH];
static int depth;
static unsigned hops_begun;
static int in_hop;
static uint64_t counted;      /* executed instructions, marker instructions excluded */
static uint64_t marker_insns; /* executed marker instructions */

static Event *events;
static size_t n_events, cap_events;
static char error_msg[256];

static void set_error(const char *msg)
{
    if (!error_msg[0]) {
        snprintf(error_msg, sizeof error_msg, "%s (after %llu instructions)", msg,
                 (unsigned long long)counted);
    }
}

static void update_ctx(void)
{
    if (in_hop && hops_begun <= warmup) {
        cur_ctx = CTX_WARMUP;
    } else if (depth > 0) {
        cur_ctx = stack[depth - 1];
    } else {
        cur_ctx = CTX_OUTSIDE;
    }
}

static void apply_event(uint32_t code)
{
    int id = (int)(code >> 1);
    int end = (int)(code & 1);
    if (n_events == cap_events) {
        cap_events = cap_events ? 2 * cap_events : 4096;
        events = realloc(events, cap_events * sizeof *events);
        if (!events) {
            fprintf(stderr, "nbcount: out of memory\n");
            exit(3);
        }
    }
    events[n_events].code = code;
    events[n_events].stamp = counted;
    n_events++;
    if (!end) {
        if (depth == MAX_DEPTH) {
            set_error("stage nesting deeper than 32");
            return;
        }
        stack[depth++] = id;
        if (id == 0) {
            if (in_hop) {
                set_error("NB_HOP_BEGIN inside an open hop");
            }
            in_hop = 1;
            hops_begun++;
        }
    } else {
        if (depth == 0 || stack[depth - 1] != id) {
            set_error("NB_STAGE_END does not match the innermost open stage");
            return;
        }
        depth--;
        if (id == 0) {
            in_hop = 0;
        }
    }
    update_ctx();
}

/* Thumb-2 encodings (first halfword, second halfword), see the Armv7-M ARM, A7.7. */
static uint32_t hw(const TB *t, uint32_t insn, int which)
{
    uint32_t off = 0;
    for (uint32_t i = 0; i < insn; i++) {
        off += t->sizes[i];
    }
    if ((uint32_t)t->sizes[insn] < 2u * (uint32_t)(which + 1)) {
        return 0;
    }
    return (uint32_t)t->bytes[off + 2 * which] | ((uint32_t)t->bytes[off + 2 * which + 1] << 8);
}

static int is_movw(const TB *t, uint32_t i) { return t->sizes[i] == 4 && (hw(t, i, 0) & 0xFBF0u) == 0xF240u; }
static int is_movt(const TB *t, uint32_t i) { return t->sizes[i] == 4 && (hw(t, i, 0) & 0xFBF0u) == 0xF2C0u; }
static int is_isb(const TB *t, uint32_t i)
{
    return t->sizes[i] == 4 && hw(t, i, 0) == 0xF3BFu && (hw(t, i, 1) & 0xFFF0u) == 0x8F60u;
}

static void set_marker_layout(TB *t, uint32_t i)
{
    t->mstore = (int32_t)i;
    t->head_end = (int32_t)i;
    t->tail_start = (int32_t)i + 1;
    if (i >= 2 && i + 1 < t->n && is_movw(t, i - 2) && is_movt(t, i - 1) && is_isb(t, i + 1)) {
        t->head_end = (int32_t)i - 2;
        t->tail_start = (int32_t)i + 2;
    }
}

static void vcpu_tb_exec(unsigned int vcpu_index, void *udata)
{
    TB *t = udata;
    (void)vcpu_index;
    if (prev_tb) {
        if (t->vaddr == prev_tb->vaddr + prev_tb->nbytes) {
            prev_tb->fall[prev_ctx]++;
        } else {
            prev_tb->taken[prev_ctx]++;
        }
    }
    prev_tb = t;
    prev_ctx = cur_ctx;
    if (t->mstore < 0) {
        t->head[cur_ctx]++;
        counted += t->n;
    }
}

static void vcpu_mem(unsigned int vcpu_index, qemu_plugin_meminfo_t info, uint64_t vaddr, void *udata)
{
    InsnRef *r = udata;
    TB *t = r->tb;
    (void)vcpu_index;
    if (vaddr < marks_base || vaddr >= marks_base + marks_n || !qemu_plugin_mem_is_store(info)) {
        return;
    }
    if (t->mstore < 0) {
        /* first time this TB stores a marker: undo what vcpu_tb_exec counted for it */
        t->head[cur_ctx]--;
        counted -= t->n;
        set_marker_layout(t, r->idx);
    } else if ((uint32_t)t->mstore != r->idx) {
        set_error("two marker stores in one translation block");
        return;
    }
    t->head[cur_ctx]++;
    counted += (uint64_t)t->head_end;
    apply_event((uint32_t)(vaddr - marks_base));
    t->tail[CTX_MARKER]++; /* executions of this TB's marker instructions [head_end, tail_start) */
    marker_insns += (uint64_t)(t->tail_start - t->head_end);
    t->tail[cur_ctx]++;
    counted += (uint64_t)(t->n - (uint32_t)t->tail_start);
    prev_ctx = cur_ctx;
}

/*
 * The instruction's real length from its first halfword (Thumb: 32-bit if the top 5 bits are 0b11101,
 * 0b11110 or 0b11111). QEMU 7.2 may report more bytes than the instruction has: the Arm translator reads
 * the next halfword near a page end (to see whether it crosses the page) and those bytes are appended
 * to the current instruction's plugin data.
 */
static size_t thumb_insn_size(const struct qemu_plugin_insn *insn)
{
    size_t sz = qemu_plugin_insn_size(insn);
    const uint8_t *d = qemu_plugin_insn_data(insn);
    if (sz < 2) {
        return sz;
    }
    unsigned hw1 = (unsigned)d[0] | ((unsigned)d[1] << 8);
    size_t want = (hw1 >> 11) >= 0x1Du ? 4 : 2;
    return want < sz ? want : sz;
}

static void vcpu_tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *qtb)
{
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(qtb);
    TB *t = calloc(1, sizeof *t);
    InsnRef *refs = calloc(n ? n : 1, sizeof *refs);
    if (!t || !refs) {
        fprintf(stderr, "nbcount: out of memory\n");
        exit(3);
    }
    t->vaddr = qemu_plugin_tb_vaddr(qtb);
    t->n = (uint32_t)n;
    t->mstore = -1;
    t->head_end = (int32_t)n;
    t->tail_start = (int32_t)n;
    t->sizes = malloc(n ? n : 1);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        total += thumb_insn_size(qemu_plugin_tb_get_insn(qtb, i));
    }
    t->bytes = malloc(total ? total : 1);
    if (!t->sizes || !t->bytes) {
        fprintf(stderr, "nbcount: out of memory\n");
        exit(3);
    }
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(qtb, i);
        size_t sz = thumb_insn_size(insn);
        memcpy(t->bytes + off, qemu_plugin_insn_data(insn), sz);
        t->sizes[i] = (uint8_t)sz;
        off += sz;
        refs[i].tb = t;
        refs[i].idx = (uint32_t)i;
        qemu_plugin_register_vcpu_mem_cb(insn, vcpu_mem, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_W, &refs[i]);
    }
    t->nbytes = (uint32_t)total;
    t->index = tb_count++;
    if (tb_last) {
        tb_last->next = t;
    } else {
        tb_list = t;
    }
    tb_last = t;
    qemu_plugin_register_vcpu_tb_exec_cb(qtb, vcpu_tb_exec, QEMU_PLUGIN_CB_NO_REGS, t);
}

static void plugin_exit(qemu_plugin_id_t id, void *p)
{
    (void)id;
    (void)p;
    FILE *f = fopen(out_path, "w");
    if (!f) {
        perror(out_path);
        return;
    }
    fprintf(f, "nbcount 1\n");
    fprintf(f, "marks 0x%llx %llu\n", (unsigned long long)marks_base, (unsigned long long)marks_n);
    fprintf(f, "warmup %u\n", warmup);
    fprintf(f, "total %llu %llu\n", (unsigned long long)counted, (unsigned long long)marker_insns);
    fprintf(f, "open %d\n", depth);
    if (error_msg[0]) {
        fprintf(f, "error %s\n", error_msg);
    }
    for (TB *t = tb_list; t; t = t->next) {
        int used = 0;
        for (int c = 0; c < NCTX && !used; c++) {
            used = t->head[c] || t->tail[c] || t->taken[c] || t->fall[c];
        }
        if (!used) {
            continue;
        }
        fprintf(f, "T %u %llx %u %d %d ", t->index, (unsigned long long)t->vaddr, t->n, t->head_end,
                t->tail_start);
        for (uint32_t b = 0; b < t->nbytes; b++) {
            fprintf(f, "%02x", t->bytes[b]);
        }
        fputc(' ', f);
        for (uint32_t i = 0; i < t->n; i++) {
            fputc('0' + t->sizes[i], f);
        }
        fputc('\n', f);
        for (int c = 0; c < NCTX; c++) {
            if (t->head[c] || t->tail[c] || t->taken[c] || t->fall[c]) {
                fprintf(f, "C %u %d %llu %llu %llu %llu\n", t->index, c, (unsigned long long)t->head[c],
                        (unsigned long long)t->tail[c], (unsigned long long)t->taken[c],
                        (unsigned long long)t->fall[c]);
            }
        }
    }
    for (size_t i = 0; i < n_events; i++) {
        fprintf(f, "E %u %llu\n", events[i].code, (unsigned long long)events[i].stamp);
    }
    fprintf(f, "end\n");
    fclose(f);
}

NB_QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc,
                                              char **argv)
{
    (void)info;
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        if (!eq) {
            fprintf(stderr, "nbcount: bad argument '%s' (want key=value)\n", argv[i]);
            return -1;
        }
        *eq = '\0';
        const char *k = argv[i], *v = eq + 1;
        if (!strcmp(k, "out")) {
            out_path = strdup(v);
        } else if (!strcmp(k, "marks")) {
            marks_base = strtoull(v, NULL, 0);
        } else if (!strcmp(k, "nmarks")) {
            marks_n = strtoull(v, NULL, 0);
        } else if (!strcmp(k, "warmup")) {
            warmup = (unsigned)strtoul(v, NULL, 0);
        } else {
            fprintf(stderr, "nbcount: unknown argument '%s'\n", k);
            return -1;
        }
    }
    if (!out_path) {
        fprintf(stderr, "nbcount: missing out=FILE\n");
        return -1;
    }
    if (!marks_base) {
        marks_n = 0; /* no markers: everything counts as OUTSIDE */
    }
    if (marks_n > 2 * NB_MAX_IDS) {
        marks_n = 2 * NB_MAX_IDS;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, vcpu_tb_trans);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
