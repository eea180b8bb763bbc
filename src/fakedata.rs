use anyhow::Result;
use bytefreezer_fakedata::{
    FakeFormat, HttpSendOptions, MessageSendOptions, SendOptions, StreamFraming, StreamSendOptions,
    is_stream_target, parse_udp_target, send_http, send_kafka, send_nats, send_stream, send_udp,
};

use crate::cli::FakedataArgs;

/// Events per request when posting to an `http` input.
const EVENTS_PER_REQUEST: usize = 500;

pub async fn run(args: FakedataArgs) -> Result<()> {
    let format = args.format.parse::<FakeFormat>()?;
    let stop = async {
        let _ = crate::signals::terminate().await;
    };
    let sent = if args.target.starts_with("http://") || args.target.starts_with("https://") {
        send_http(
            HttpSendOptions {
                url: args.target.clone(),
                token: args.token.clone(),
                format,
                rate_per_second: args.rate,
                count: args.count,
                seed: args.seed,
                events_per_request: EVENTS_PER_REQUEST,
            },
            stop,
        )
        .await?
    } else if args.target.starts_with("kafka://") || args.target.starts_with("nats://") {
        let options = MessageSendOptions {
            target: args.target.clone(),
            format,
            rate_per_second: args.rate,
            count: args.count,
            seed: args.seed,
        };
        if args.target.starts_with("kafka://") {
            send_kafka(options, stop).await?
        } else {
            send_nats(options, stop).await?
        }
    } else if is_stream_target(&args.target) {
        send_stream(
            StreamSendOptions {
                target: args.target.clone(),
                ca_file: args.ca_file.clone(),
                framing: if args.framing == "newline" {
                    StreamFraming::Newline
                } else {
                    StreamFraming::OctetCounting
                },
                format,
                rate_per_second: args.rate,
                count: args.count,
                seed: args.seed,
            },
            stop,
        )
        .await?
    } else {
        let options = SendOptions {
            target: parse_udp_target(&args.target)?,
            format,
            rate_per_second: args.rate,
            count: args.count,
            seed: args.seed,
        };
        send_udp(options, stop).await?
    };
    eprintln!("fakedata: sent {sent} events to {}", args.target);
    Ok(())
}
