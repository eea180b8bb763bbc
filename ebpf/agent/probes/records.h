/* The records the probes hand to user space, through the ring buffer or the flow map.
 * ebpf/agent/src/records.rs reads them field by field at these offsets; change both together
 * (the agent's tests load the probes and check real records). */
#ifndef BYTEFREEZER_RECORDS_H
#define BYTEFREEZER_RECORDS_H

#define RECORD_CONNECTION 1
#define RECORD_PROCESS_EXEC 2
#define RECORD_PROCESS_EXIT 3

#define COMM_LEN 16
#define FILENAME_LEN 256

/* Why a connection record was written. */
#define CONNECTION_CLOSED 1
/* Never reached ESTABLISHED: refused, timed out or reset during the handshake. */
#define CONNECTION_FAILED 2

#define DIRECTION_UNKNOWN 0
#define DIRECTION_OUTBOUND 1
#define DIRECTION_INBOUND 2

/* A TCP connection at its close (96 + 16 bytes). Times are CLOCK_BOOTTIME nanoseconds. */
struct connection_record {
    __u32 kind;            /* 0: RECORD_CONNECTION */
    __u32 pid;             /* 4: the process that opened (or closed) it; 0 when unknown */
    __u64 end_ns;          /* 8 */
    __u64 start_ns;        /* 16: 0 when the connection predates the agent */
    __u64 cgroup_id;       /* 24 */
    __u64 bytes_sent;      /* 32: bytes acknowledged by the peer */
    __u64 bytes_received;  /* 40 */
    __u32 segments_sent;   /* 48 */
    __u32 segments_received; /* 52 */
    __u32 retransmits;     /* 56 */
    __u32 srtt_us;         /* 60: smoothed round-trip time */
    __u32 uid;             /* 64 */
    __u16 family;          /* 68: AF_INET or AF_INET6 */
    __u16 src_port;        /* 70: host order */
    __u16 dst_port;        /* 72: host order */
    __u8 direction;        /* 74 */
    __u8 outcome;          /* 75: CONNECTION_CLOSED or CONNECTION_FAILED */
    char comm[COMM_LEN];   /* 76 */
    __u8 pad[4];           /* 92 */
    __u8 src_addr[16];     /* 96: IPv4 in the first 4 bytes */
    __u8 dst_addr[16];     /* 112 */
};

/* A process started a program (exec) or ended (exit of its last thread). */
struct process_record {
    __u32 kind;            /* 0: RECORD_PROCESS_EXEC or RECORD_PROCESS_EXIT */
    __u32 pid;             /* 4 */
    __u64 time_ns;         /* 8 */
    __u64 cgroup_id;       /* 16 */
    __u32 ppid;            /* 24 */
    __u32 uid;             /* 28 */
    __s32 exit_code;       /* 32: exit status, or 128 + signal when killed */
    char comm[COMM_LEN];   /* 36 */
    __u8 pad[4];           /* 52 */
    char filename[FILENAME_LEN]; /* 56: the program run (exec only) */
};

/* The key of an in-kernel UDP or ICMP flow (flow map). */
struct flow_key {
    __u8 src_addr[16];     /* 0 */
    __u8 dst_addr[16];     /* 16 */
    __u16 src_port;        /* 32: host order; ICMP: type << 8 | code */
    __u16 dst_port;        /* 34 */
    __u8 ip_protocol;      /* 36 */
    __u8 family;           /* 37: 4 or 6 */
    __u8 pad[2];           /* 38 */
};

/* Its counters, one per CPU (flow map values). */
struct flow_counters {
    __u64 packets;         /* 0 */
    __u64 bytes;           /* 8: IP length */
    __u64 first_ns;        /* 16 */
    __u64 last_ns;         /* 24 */
};

/* Indexes of the per-CPU drop counters (drops map). */
#define DROP_RING_FULL 0
#define DROP_FLOW_MAP_FULL 1
#define DROP_CONNECTION_MAP_FULL 2
#define DROP_KINDS 3

#endif
