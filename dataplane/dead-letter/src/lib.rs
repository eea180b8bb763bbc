//! What a stage does with what it cannot process, shared by piper and packer and by the
//! `bytefreezer dead-letter` command: the reason record written beside each dead letter, the
//! backoff of failing inputs with attempt counts persisted in the bucket (so a crash loop keeps
//! counting), listing and counting dead letters, and replay: moving them back to the input of
//! the stage that gave up, under a lease, for the command or for a replay request the control
//! plane delivered.
//!
//! Every dead letter and its reason are durable before the input is deleted, so nothing
//! acknowledged is lost. It must not decide what a failure means (the stages do) and must not
//! format keys itself (`bytefreezer-layout` does).

mod attempts;
mod error;
mod record;
mod replay;
mod retry;

pub use attempts::{Attempts, RetrySettings};
pub use error::{DeadLetterError, RowsProblem};
pub use record::{DeadLetterRecord, write_dead_letter};
pub use replay::{
    ReplayRunner, Replayed, count_dead_letters, dead_letters_waiting_gauge, list_dead_letters,
    publish_dead_letter_counts, read_reason, replay_dead_letters,
};
pub use retry::Attempt;
