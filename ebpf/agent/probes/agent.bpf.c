// SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-only
/* The host telemetry probes of `bytefreezer agent`, on stable kernel interfaces only:
 * tracepoints for TCP state changes and process exec/exit, and a socket filter on a packet
 * socket for UDP and ICMP flows (counted here) and DNS (copied to user space). Everything is
 * bounded: fixed map sizes, one ring buffer, and a drop counter wherever a record can be lost.
 * Kernel structures are read with CO-RE relocations (clang's preserve_access_index), so one
 * object runs on every kernel with BTF. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "records.h"

/* The kernel lends its GPL-only helpers (probe_read_kernel, ringbuf) to GPL-compatible
 * programs; this one is offered under the GPL as well as the project's Apache-2.0. */
char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_LAST_ACK 9
#define TCP_LISTEN 10
#define LOOPBACK_IFINDEX 1
#define DNS_PORT 53
#define IPPROTO_ICMPV6 58

/* Sized in user space before load (flows_max, ring_bytes); these are the defaults. */
struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4 << 20);
} records SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, DROP_KINDS);
    __type(key, __u32);
    __type(value, __u64);
} drops SEC(".maps");

struct connection_start {
    __u64 start_ns;
    __u64 cgroup_id;
    __u32 pid;
    __u32 uid;
    char comm[COMM_LEN];
    __u8 direction;
    __u8 established;
    __u8 pad[6];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u64);
    __type(value, struct connection_start);
} connections SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
    __uint(max_entries, 16384);
    __type(key, struct flow_key);
    __type(value, struct flow_counters);
} flows SEC(".maps");

/* Only the fields read here; CO-RE finds them in the running kernel's layout. */
struct sock_common___bf {
    unsigned short skc_family;
} __attribute__((preserve_access_index));

struct tcp_sock {
    __u64 bytes_acked;
    __u64 bytes_received;
    __u32 segs_in;
    __u32 segs_out;
    __u32 total_retrans;
    __u32 srtt_us;
} __attribute__((preserve_access_index));

struct task_struct {
    int tgid;
    int exit_code;
    struct task_struct *real_parent;
} __attribute__((preserve_access_index));

/* Tracepoint records, laid out as /sys/kernel/tracing/events/<group>/<name>/format says. */
struct inet_sock_set_state_args {
    __u64 common;
    const void *skaddr;
    int oldstate;
    int newstate;
    __u16 sport;
    __u16 dport;
    __u16 family;
    __u16 protocol;
    __u8 saddr[4];
    __u8 daddr[4];
    __u8 saddr_v6[16];
    __u8 daddr_v6[16];
};

struct sched_process_exec_args {
    __u64 common;
    __u32 filename_loc;
    int pid;
    int old_pid;
};

struct sched_process_exit_args {
    __u64 common;
    char comm[16];
    int pid;
    int prio;
    __u8 group_dead;
};

/* Past this much unread data the reader is woken at once; below it, it reads on its own
 * schedule (every 200 ms), so a busy host does not pay a wakeup per record. */
#define WAKE_AT_BYTES (256 << 10)

static __always_inline __u64 wake_flags(void)
{
    return bpf_ringbuf_query(&records, BPF_RB_AVAIL_DATA) > WAKE_AT_BYTES ? BPF_RB_FORCE_WAKEUP
                                                                          : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(__u32 kind)
{
    __u64 *count = bpf_map_lookup_elem(&drops, &kind);
    if (count)
        *count += 1;
}

static __always_inline __u32 current_tgid(void)
{
    return bpf_get_current_pid_tgid() >> 32;
}

static __always_inline void note_owner(struct connection_start *start)
{
    __u32 pid = current_tgid();
    if (start->pid != 0 || pid == 0)
        return;
    start->pid = pid;
    start->uid = (__u32)bpf_get_current_uid_gid();
    start->cgroup_id = bpf_get_current_cgroup_id();
    bpf_get_current_comm(start->comm, sizeof(start->comm));
}

static __always_inline void emit_connection(struct inet_sock_set_state_args *args,
                                            struct connection_start *start)
{
    struct connection_record *record = bpf_ringbuf_reserve(&records, sizeof(*record), 0);
    if (!record) {
        count_drop(DROP_RING_FULL);
        return;
    }
    __builtin_memset(record, 0, sizeof(*record));
    struct tcp_sock *tcp = (struct tcp_sock *)args->skaddr;
    record->kind = RECORD_CONNECTION;
    record->end_ns = bpf_ktime_get_boot_ns();
    record->bytes_sent = BPF_CORE_READ(tcp, bytes_acked);
    record->bytes_received = BPF_CORE_READ(tcp, bytes_received);
    record->segments_sent = BPF_CORE_READ(tcp, segs_out);
    record->segments_received = BPF_CORE_READ(tcp, segs_in);
    record->retransmits = BPF_CORE_READ(tcp, total_retrans);
    record->srtt_us = BPF_CORE_READ(tcp, srtt_us) >> 3;
    record->family = args->family;
    record->src_port = args->sport;
    record->dst_port = args->dport;
    if (args->family == AF_INET) {
        __builtin_memcpy(record->src_addr, args->saddr, 4);
        __builtin_memcpy(record->dst_addr, args->daddr, 4);
    } else {
        __builtin_memcpy(record->src_addr, args->saddr_v6, 16);
        __builtin_memcpy(record->dst_addr, args->daddr_v6, 16);
    }
    if (start) {
        record->start_ns = start->start_ns;
        record->pid = start->pid;
        record->uid = start->uid;
        record->cgroup_id = start->cgroup_id;
        record->direction = start->direction;
        record->outcome = start->established ? CONNECTION_CLOSED : CONNECTION_FAILED;
        __builtin_memcpy(record->comm, start->comm, COMM_LEN);
    } else {
        record->outcome = CONNECTION_CLOSED;
    }
    bpf_ringbuf_submit(record, wake_flags());
}

SEC("tracepoint/sock/inet_sock_set_state")
int tcp_state(struct inet_sock_set_state_args *args)
{
    if (args->protocol != IPPROTO_TCP)
        return 0;
    __u64 key = (__u64)args->skaddr;
    int old = args->oldstate, new = args->newstate;
    if (new == TCP_SYN_SENT || (old == TCP_SYN_RECV && new == TCP_ESTABLISHED)) {
        struct connection_start start = {};
        start.start_ns = bpf_ktime_get_boot_ns();
        start.direction = new == TCP_SYN_SENT ? DIRECTION_OUTBOUND : DIRECTION_INBOUND;
        start.established = new == TCP_ESTABLISHED;
        /* connect() runs in its process; an accepted connection completes in softirq, where
         * the current task is unrelated: its owner is learned when it closes. */
        if (new == TCP_SYN_SENT)
            note_owner(&start);
        if (bpf_map_update_elem(&connections, &key, &start, BPF_ANY) != 0)
            count_drop(DROP_CONNECTION_MAP_FULL);
        return 0;
    }
    struct connection_start *start = bpf_map_lookup_elem(&connections, &key);
    if (new == TCP_ESTABLISHED && start) {
        start->established = 1;
        return 0;
    }
    /* close() and shutdown() run in the owner's process. */
    if (start && ((old == TCP_ESTABLISHED && new == TCP_FIN_WAIT1) || new == TCP_LAST_ACK))
        note_owner(start);
    if (new != TCP_CLOSE || old == TCP_LISTEN || old == TCP_CLOSE)
        return 0;
    emit_connection(args, start);
    if (start)
        bpf_map_delete_elem(&connections, &key);
    return 0;
}

/* A process record of `kind` holding what exec and exit records share, or NULL (a counted
 * drop) when the ring buffer is full. */
static __always_inline struct process_record *new_process_record(__u32 kind)
{
    struct process_record *record = bpf_ringbuf_reserve(&records, sizeof(*record), 0);
    if (!record) {
        count_drop(DROP_RING_FULL);
        return NULL;
    }
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    record->kind = kind;
    record->pid = current_tgid();
    record->time_ns = bpf_ktime_get_boot_ns();
    record->cgroup_id = bpf_get_current_cgroup_id();
    record->ppid = BPF_CORE_READ(task, real_parent, tgid);
    record->uid = (__u32)bpf_get_current_uid_gid();
    record->exit_code = 0;
    __builtin_memset(record->pad, 0, sizeof(record->pad));
    record->filename[0] = 0;
    return record;
}

SEC("tracepoint/sched/sched_process_exec")
int process_exec(struct sched_process_exec_args *args)
{
    struct process_record *record = new_process_record(RECORD_PROCESS_EXEC);
    if (!record)
        return 0;
    bpf_get_current_comm(record->comm, sizeof(record->comm));
    unsigned int offset = args->filename_loc & 0xFFFF;
    if (bpf_probe_read_kernel_str(record->filename, sizeof(record->filename),
                                  (void *)args + offset) < 0)
        record->filename[0] = 0;
    bpf_ringbuf_submit(record, wake_flags());
    return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int process_exit(struct sched_process_exit_args *args)
{
    if (!args->group_dead)
        return 0;
    struct process_record *record = new_process_record(RECORD_PROCESS_EXIT);
    if (!record)
        return 0;
    struct task_struct *task = (struct task_struct *)bpf_get_current_task();
    int status = BPF_CORE_READ(task, exit_code);
    /* wait(2)'s encoding: the status in bits 8-15, or the killing signal in bits 0-6. */
    record->exit_code = (status & 0x7f) ? 128 + (status & 0x7f) : (status >> 8) & 0xff;
    __builtin_memcpy(record->comm, args->comm, COMM_LEN);
    bpf_ringbuf_submit(record, wake_flags());
    return 0;
}

static __always_inline int load_port_pair(struct __sk_buff *skb, __u32 offset, struct flow_key *key)
{
    __u16 ports[2];
    if (bpf_skb_load_bytes(skb, offset, ports, sizeof(ports)) < 0)
        return -1;
    key->src_port = bpf_ntohs(ports[0]);
    key->dst_port = bpf_ntohs(ports[1]);
    return 0;
}

/* Attached to an AF_PACKET SOCK_DGRAM socket, so the packet starts at its IP header whatever
 * the link. Counts UDP and ICMP packets per flow and returns 0 (nothing copied to the socket)
 * except for DNS, whose packets user space parses. TCP is left to the state tracepoint. */
SEC("socket")
int packets(struct __sk_buff *skb)
{
    /* Loopback shows each packet twice, leaving and arriving: count it arriving. */
    if (skb->pkt_type == PACKET_OUTGOING && skb->ifindex == LOOPBACK_IFINDEX)
        return 0;
    struct flow_key key = {};
    __u32 transport;
    __u64 length;
    if (skb->protocol == bpf_htons(ETH_P_IP)) {
        __u8 header[20];
        if (bpf_skb_load_bytes(skb, 0, header, sizeof(header)) < 0)
            return 0;
        /* A fragment after the first carries no ports: skipped. */
        if ((header[6] & 0x1f) != 0 || header[7] != 0)
            return 0;
        key.family = 4;
        key.ip_protocol = header[9];
        __builtin_memcpy(key.src_addr, &header[12], 4);
        __builtin_memcpy(key.dst_addr, &header[16], 4);
        transport = (header[0] & 0x0f) * 4;
        length = ((__u64)header[2] << 8) | header[3];
    } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
        __u8 header[40];
        if (bpf_skb_load_bytes(skb, 0, header, sizeof(header)) < 0)
            return 0;
        /* Extension headers are not walked: such packets count under their next header. */
        key.family = 6;
        key.ip_protocol = header[6];
        __builtin_memcpy(key.src_addr, &header[8], 16);
        __builtin_memcpy(key.dst_addr, &header[24], 16);
        transport = 40;
        length = 40 + (((__u64)header[4] << 8) | header[5]);
    } else {
        return 0;
    }
    int dns = 0;
    if (key.ip_protocol == IPPROTO_UDP) {
        if (load_port_pair(skb, transport, &key) < 0)
            return 0;
        dns = key.src_port == DNS_PORT || key.dst_port == DNS_PORT;
    } else if (key.ip_protocol == IPPROTO_ICMP || key.ip_protocol == IPPROTO_ICMPV6) {
        __u8 type_code[2];
        if (bpf_skb_load_bytes(skb, transport, type_code, sizeof(type_code)) < 0)
            return 0;
        key.src_port = ((__u16)type_code[0] << 8) | type_code[1];
    } else {
        return 0;
    }
    __u64 now = bpf_ktime_get_boot_ns();
    struct flow_counters *counters = bpf_map_lookup_elem(&flows, &key);
    if (!counters) {
        struct flow_counters fresh = {.packets = 1, .bytes = length, .first_ns = now, .last_ns = now};
        /* Fails when another CPU created the flow first (this CPU's slot is then zero) or
         * when the map is full (a counted drop until user space flushes it). */
        if (bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST) == 0)
            return dns ? skb->len : 0;
        counters = bpf_map_lookup_elem(&flows, &key);
        if (!counters) {
            count_drop(DROP_FLOW_MAP_FULL);
            return dns ? skb->len : 0;
        }
    }
    counters->packets += 1;
    counters->bytes += length;
    if (counters->first_ns == 0)
        counters->first_ns = now;
    counters->last_ns = now;
    return dns ? skb->len : 0;
}
