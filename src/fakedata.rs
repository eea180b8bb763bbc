use anyhow::Result;
use bytefreezer_fakedata::{FakeFormat, SendOptions, parse_udp_target, send_udp};

use crate::cli::FakedataArgs;

pub async fn run(args: FakedataArgs) -> Result<()> {
    let options = SendOptions {
        target: parse_udp_target(&args.target)?,
        format: args.format.parse::<FakeFormat>()?,
        rate_per_second: args.rate,
        count: args.count,
        seed: args.seed,
    };
    let sent = send_udp(options, async {
        let _ = crate::signals::terminate().await;
    })
    .await?;
    eprintln!("fakedata: sent {sent} events to {}", args.target);
    Ok(())
}
