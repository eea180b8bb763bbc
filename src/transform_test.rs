//! `bytefreezer transform test`: runs a pipeline over sample events, with no effect on running
//! data, and prints the output rows with what each filter did.

use anyhow::{Context, Result};
use bytefreezer_transform::{PipelineSpec, trial_run};

use crate::cli::TransformTestArgs;

pub fn run(args: TransformTestArgs) -> Result<()> {
    let pipeline_text = std::fs::read_to_string(&args.pipeline)
        .with_context(|| format!("cannot read pipeline {}", args.pipeline.display()))?;
    let spec: PipelineSpec = serde_json::from_str(&pipeline_text).with_context(|| {
        format!(
            "{} is not a pipeline ({{\"filters\": [...]}})",
            args.pipeline.display()
        )
    })?;
    let geoip = args
        .geoip
        .open()
        .context("--geoip-city-db / --geoip-asn-db")?;
    let input = std::fs::read(&args.input)
        .with_context(|| format!("cannot read sample {}", args.input.display()))?;
    let now = chrono::Utc::now().timestamp_micros();
    let report = trial_run(&spec, &geoip, &input, now).with_context(|| {
        format!(
            "pipeline {} on sample {}",
            args.pipeline.display(),
            args.input.display()
        )
    })?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Some(error) = report.error {
        anyhow::bail!("the pipeline failed on the sample: {error}");
    }
    Ok(())
}
