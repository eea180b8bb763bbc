use std::fs::File;
use std::io::{BufWriter, Read, Write};

use anyhow::{Context, Result, bail};
use arrow::json::LineDelimitedWriter;
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::cli::CatArgs;

const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

pub fn run(args: CatArgs) -> Result<()> {
    match print(&args) {
        // `bytefreezer cat FILE | head` closes the pipe early; that is not a failure.
        Err(error) if format!("{error:#}").contains("Broken pipe") => Ok(()),
        other => other,
    }
}

fn print(args: &CatArgs) -> Result<()> {
    let path = &args.object;
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 4];
    let is_parquet = file.read_exact(&mut magic).is_ok() && &magic == PARQUET_MAGIC;
    let stdout = std::io::stdout();
    let mut writer = LineDelimitedWriter::new(BufWriter::new(stdout.lock()));
    let mut write = |batch: &RecordBatch| -> Result<()> {
        writer.write(batch).context("cannot print rows as JSON")
    };
    if is_parquet {
        let file = File::open(path)?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("{} is not a readable Parquet file", path.display()))?
            .build()?;
        for batch in reader {
            write(&batch?)?;
        }
    } else {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let (_, batches) = match bytefreezer_schema::decode_ipc(&bytes) {
            Ok(decoded) => decoded,
            Err(error) => bail!(
                "{} is neither Parquet nor an Arrow IPC stream (intake or piper object): {error}",
                path.display()
            ),
        };
        // An intake object from a proxy holds edge batches: print the rows users query.
        for batch in batches {
            let batch = bytefreezer_piper::table_rows(batch)
                .with_context(|| format!("{}: edge batch", path.display()))?
                .batch;
            write(&batch)?;
        }
    }
    writer.finish()?;
    writer.into_inner().flush()?;
    Ok(())
}
