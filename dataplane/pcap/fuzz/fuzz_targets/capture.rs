//! Any bytes given as a capture are read into packets or refused with an error, and any packet
//! walks to a UDP datagram or to nothing, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packets) = bytefreezer_pcap::packets(data) {
        for packet in &packets {
            let _ = bytefreezer_pcap::udp_datagram(packet);
        }
    }
    for link_type in [1, 101, 113, 276] {
        let packet = bytefreezer_pcap::Packet {
            timestamp_micros: 0,
            link_type,
            data,
        };
        let _ = bytefreezer_pcap::udp_datagram(&packet);
    }
});
