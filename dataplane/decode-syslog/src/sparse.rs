//! Columns that are null in most rows (vendor ids, parse errors and warnings, raw bytes):
//! their nulls are counted and written as one run when a value or the flush comes, so a row
//! that has none of them costs a counter increment per column instead of a builder append.

use arrow::array::{GenericByteBuilder, PrimitiveBuilder};
use arrow::datatypes::{ArrowPrimitiveType, ByteArrayType};

pub trait NullRuns {
    fn append_null_run(&mut self, nulls: usize);
}

impl<T: ByteArrayType> NullRuns for GenericByteBuilder<T> {
    #[inline]
    fn append_null_run(&mut self, nulls: usize) {
        self.append_nulls(nulls);
    }
}

impl<T: ArrowPrimitiveType> NullRuns for PrimitiveBuilder<T> {
    #[inline]
    fn append_null_run(&mut self, nulls: usize) {
        self.append_nulls(nulls);
    }
}

pub struct Sparse<B> {
    builder: B,
    pending_nulls: usize,
}

impl<B: NullRuns> Sparse<B> {
    pub fn new(builder: B) -> Self {
        Sparse {
            builder,
            pending_nulls: 0,
        }
    }

    #[inline]
    pub fn null(&mut self) {
        self.pending_nulls += 1;
    }

    /// The builder with every counted null written, ready for a value or to be finished.
    #[inline]
    pub fn settled(&mut self) -> &mut B {
        if self.pending_nulls > 0 {
            self.builder.append_null_run(self.pending_nulls);
            self.pending_nulls = 0;
        }
        &mut self.builder
    }
}

impl<T: ByteArrayType> Sparse<GenericByteBuilder<T>> {
    #[inline]
    pub fn append_option(&mut self, value: Option<impl AsRef<T::Native>>) {
        match value {
            Some(value) => self.settled().append_value(value),
            None => self.null(),
        }
    }
}

impl<T: ArrowPrimitiveType> Sparse<PrimitiveBuilder<T>> {
    #[inline]
    pub fn append_option(&mut self, value: Option<T::Native>) {
        match value {
            Some(value) => self.settled().append_value(value),
            None => self.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, StringBuilder, UInt8Builder};

    use super::*;

    #[test]
    fn runs_of_nulls_land_where_they_were_counted() {
        let mut text = Sparse::new(StringBuilder::new());
        for value in [None, None, Some("a"), None, Some("b"), None, None] {
            text.append_option(value);
        }
        let array = text.settled().finish();
        let values: Vec<Option<&str>> = array.iter().collect();
        assert_eq!(values, [None, None, Some("a"), None, Some("b"), None, None]);
        let mut numbers = Sparse::new(UInt8Builder::new());
        for _ in 0..3 {
            numbers.append_option(None);
        }
        let array = numbers.settled().finish();
        assert_eq!((array.len(), array.null_count()), (3, 3));
    }
}
