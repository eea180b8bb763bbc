//! Column storage the decoders append to: plain `Vec`s of values (and of text bytes and
//! offsets) with a lazily materialized validity bitmap, turned into Arrow arrays without a copy
//! on flush. Compared with Arrow's builders this lets a decoder append a whole data set's
//! column at once (`extend`, `push_nulls`, `push_repeat`) and write text in place, and it
//! sizes each column for as many rows as the last batch had.
//!
//! Columns most batches leave empty (sFlow counters on NetFlow rows, MACs, VLANs) are only
//! counted until a row has a value, and are left out of the edge batch on flush without
//! writing or checking a byte per row.

use arrow::array::builder::NullBufferBuilder;
use arrow::array::{ArrowPrimitiveType, GenericByteArray, PrimitiveArray};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::datatypes::{BinaryType, ByteArrayType, Utf8Type};
use arrow::error::ArrowError;

pub(crate) struct Column<T: ArrowPrimitiveType> {
    values: Vec<T::Native>,
    nulls: NullBufferBuilder,
    /// Null rows not written yet: only while `values` is empty, that is while every row of
    /// the batch so far is null.
    leading_nulls: usize,
    /// Reused by `extend_options`.
    validity: Vec<bool>,
    /// A value buffer of an earlier batch, taken back by [`Column::recycle`].
    spare: Option<Vec<T::Native>>,
}

impl<T: ArrowPrimitiveType> Column<T> {
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Column {
            values: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
            leading_nulls: 0,
            validity: Vec::new(),
            spare: None,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.values.len() + self.leading_nulls
    }

    /// Writes the leading null rows before the first value.
    #[inline]
    fn write_leading_nulls(&mut self) {
        if self.leading_nulls > 0 {
            let n = std::mem::take(&mut self.leading_nulls);
            self.values.resize(n, T::Native::default());
            self.nulls.append_n_nulls(n);
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, value: T::Native) {
        self.write_leading_nulls();
        self.values.push(value);
        self.nulls.append_non_null();
    }

    #[inline]
    pub(crate) fn push_option(&mut self, value: Option<T::Native>) {
        match value {
            Some(value) => self.push(value),
            None => self.push_nulls(1),
        }
    }

    #[inline]
    pub(crate) fn push_nulls(&mut self, n: usize) {
        if self.values.is_empty() {
            self.leading_nulls += n;
        } else {
            self.values
                .resize(self.values.len() + n, T::Native::default());
            self.nulls.append_n_nulls(n);
        }
    }

    pub(crate) fn push_repeat(&mut self, value: Option<T::Native>, n: usize) {
        match value {
            Some(value) => {
                self.write_leading_nulls();
                self.values.resize(self.values.len() + n, value);
                self.nulls.append_n_non_nulls(n);
            }
            None => self.push_nulls(n),
        }
    }

    /// Appends every value of `values`, all valid.
    pub(crate) fn extend(&mut self, values: impl Iterator<Item = T::Native>) {
        self.write_leading_nulls();
        let before = self.values.len();
        self.values.extend(values);
        self.nulls.append_n_non_nulls(self.values.len() - before);
    }

    /// Appends every value of `values`, `None` as null. Values are read in one pass, and
    /// validity in a second only when some are missing and some present; so the
    /// common all-present and all-missing cases cost what [`Column::extend`] and
    /// [`Column::push_nulls`] do.
    pub(crate) fn extend_options(
        &mut self,
        values: impl Iterator<Item = Option<T::Native>> + Clone,
    ) {
        let (mut present, mut missing) = (0, 0);
        for value in values.clone() {
            match value {
                Some(_) => present += 1,
                None => missing += 1,
            }
        }
        if present == 0 {
            self.push_nulls(missing);
            return;
        }
        self.write_leading_nulls();
        self.values
            .extend(values.clone().map(|value| value.unwrap_or_default()));
        if missing == 0 {
            self.nulls.append_n_non_nulls(present);
            return;
        }
        self.validity.clear();
        self.validity.extend(values.map(|value| value.is_some()));
        self.nulls.append_slice(&self.validity);
    }

    /// Whether no row so far has a value: such a column is left out of the edge batch.
    #[inline]
    pub(crate) fn is_all_null(&self) -> bool {
        self.values.is_empty()
    }

    /// Forgets the rows of a column that [`Column::is_all_null`], without building an array.
    pub(crate) fn discard_nulls(&mut self) {
        debug_assert!(self.values.is_empty());
        self.leading_nulls = 0;
    }

    /// The column as an array; the column starts again empty with room for as many rows,
    /// in a buffer [`Column::recycle`] handed back when there is one, so the next batch
    /// writes into pages already touched instead of faulting in fresh ones.
    pub(crate) fn finish(&mut self) -> PrimitiveArray<T> {
        if self.values.is_empty() {
            let rows = std::mem::take(&mut self.leading_nulls);
            return PrimitiveArray::new_null(rows);
        }
        let rows = self.values.len();
        let next = match self.spare.take() {
            Some(spare) if spare.capacity() >= rows => spare,
            _ => Vec::with_capacity(headroom(rows)),
        };
        let values = std::mem::replace(&mut self.values, next);
        PrimitiveArray::new(ScalarBuffer::from(values), self.nulls.finish())
    }

    /// Takes back the value buffer of an array this column built, once nothing else holds
    /// it (the spool writer encoded and dropped the batch); otherwise it is simply freed.
    pub(crate) fn recycle(&mut self, array: PrimitiveArray<T>) {
        if self.spare.is_some() {
            return;
        }
        let (_, values, _) = array.into_parts();
        if let Ok(mut values) = values.into_inner().into_vec::<T::Native>() {
            values.clear();
            self.spare = Some(values);
        }
    }
}

/// Room for the next batch: as much as the last one and an eighth more, since batches close
/// on the first datagram past a size, so the next is rarely exactly as large; growing a full
/// column would copy all of it.
fn headroom(len: usize) -> usize {
    len + len / 8
}

/// What every row of a text column so far has been, while they are all alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Uniform {
    Empty,
    Nulls,
    /// Rows differ: they are in `bytes`, `offsets` and `nulls`.
    Mixed,
}

/// UTF-8 text: every value's bytes back to back, and where each ends.
pub(crate) struct TextColumn {
    bytes: Vec<u8>,
    /// Starts with 0; one more entry per row.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    uniform: Uniform,
    /// Rows counted but not written, while `uniform` is not `Mixed`.
    uniform_rows: usize,
}

impl TextColumn {
    pub(crate) fn with_capacity(rows: usize, bytes_per_row: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        TextColumn {
            bytes: Vec::with_capacity(rows * bytes_per_row),
            offsets,
            nulls: NullBufferBuilder::new(rows),
            uniform: Uniform::Empty,
            uniform_rows: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self.uniform {
            Uniform::Mixed => self.offsets.len() - 1,
            _ => self.uniform_rows,
        }
    }

    /// Writes the rows only counted so far, from now on every row is written.
    #[cold]
    fn write_uniform_rows(&mut self) {
        let rows = std::mem::take(&mut self.uniform_rows);
        match std::mem::replace(&mut self.uniform, Uniform::Mixed) {
            Uniform::Nulls => self.write_nulls(rows),
            Uniform::Empty | Uniform::Mixed => {}
        }
    }

    /// Where the next value's bytes go: write them, then call [`TextColumn::end_value`].
    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut Vec<u8> {
        if self.uniform != Uniform::Mixed {
            self.write_uniform_rows();
        }
        &mut self.bytes
    }

    /// Ends the value written into [`TextColumn::bytes_mut`] since the previous row.
    #[inline]
    pub(crate) fn end_value(&mut self) {
        if self.uniform != Uniform::Mixed {
            self.write_uniform_rows();
        }
        // A batch is flushed long before 2 GiB of text; Arrow's own builder panics there too.
        let end = i32::try_from(self.bytes.len()).expect("text column past 2 GiB in one batch");
        self.offsets.push(end);
        self.nulls.append_non_null();
    }

    /// Appends one value per item of `items`, each written by `write` into the column's bytes.
    #[inline]
    pub(crate) fn extend_with<I: ExactSizeIterator>(
        &mut self,
        items: I,
        mut write: impl FnMut(&mut Vec<u8>, I::Item),
    ) {
        if self.uniform != Uniform::Mixed {
            self.write_uniform_rows();
        }
        let n = items.len();
        self.offsets.reserve(n);
        for item in items {
            write(&mut self.bytes, item);
            // Checked once below: offsets only grow, so if the last fits, every one does.
            self.offsets.push(self.bytes.len() as i32);
        }
        // A batch is flushed long before 2 GiB of text; Arrow's own builder panics there too.
        assert!(
            i32::try_from(self.bytes.len()).is_ok(),
            "text column past 2 GiB in one batch"
        );
        self.nulls.append_n_non_nulls(n);
    }

    pub(crate) fn push_nulls(&mut self, n: usize) {
        match self.uniform {
            Uniform::Empty => {
                self.uniform = Uniform::Nulls;
                self.uniform_rows = n;
            }
            Uniform::Nulls => self.uniform_rows += n,
            Uniform::Mixed => self.write_nulls(n),
        }
    }

    fn write_nulls(&mut self, n: usize) {
        let end = *self.offsets.last().unwrap_or(&0);
        self.offsets.resize(self.offsets.len() + n, end);
        self.nulls.append_n_nulls(n);
    }

    /// Whether no row so far has a value: such a column is left out of the edge batch.
    pub(crate) fn is_all_null(&self) -> bool {
        matches!(self.uniform, Uniform::Empty | Uniform::Nulls)
    }

    /// The column as UTF-8 text; see [`TextColumn::finish_bytes`].
    pub(crate) fn finish(&mut self) -> Result<GenericByteArray<Utf8Type>, ArrowError> {
        self.finish_bytes()
    }

    /// The column as binary values (addresses, MACs), with no UTF-8 check.
    pub(crate) fn finish_binary(&mut self) -> Result<GenericByteArray<BinaryType>, ArrowError> {
        self.finish_bytes()
    }

    /// The column as an array; the column starts again empty, with room for as many rows
    /// and bytes when it held differing rows. Written text is checked as UTF-8 once, in one
    /// pass (Arrow's check); an all-null column is built without a check per row.
    fn finish_bytes<T: ByteArrayType<Offset = i32>>(
        &mut self,
    ) -> Result<GenericByteArray<T>, ArrowError> {
        let rows = std::mem::take(&mut self.uniform_rows);
        match std::mem::replace(&mut self.uniform, Uniform::Empty) {
            Uniform::Empty => {
                return GenericByteArray::try_new(
                    OffsetBuffer::new_empty(),
                    Buffer::default(),
                    None,
                );
            }
            Uniform::Nulls => return Ok(GenericByteArray::new_null(rows)),
            Uniform::Mixed => {}
        }
        let rows = self.offsets.len() - 1;
        let capacity = headroom(self.bytes.len());
        let bytes = std::mem::replace(&mut self.bytes, Vec::with_capacity(capacity));
        let mut offsets = Vec::with_capacity(headroom(rows) + 1);
        offsets.push(0);
        let offsets = std::mem::replace(&mut self.offsets, offsets);
        GenericByteArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(offsets)),
            Buffer::from_vec(bytes),
            self.nulls.finish(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::UInt16Type;

    #[test]
    fn columns_append_in_bulk_truncate_and_start_again_after_finish() {
        let mut numbers = Column::<UInt16Type>::with_capacity(2);
        numbers.push(1);
        numbers.push_nulls(2);
        numbers.push_repeat(Some(7), 2);
        numbers.extend([8, 9].into_iter());
        numbers.extend_options([None, Some(10)].into_iter());
        assert_eq!(numbers.len(), 9);
        let array = numbers.finish();
        assert_eq!(
            array.iter().collect::<Vec<_>>(),
            [
                Some(1),
                None,
                None,
                Some(7),
                Some(7),
                Some(8),
                Some(9),
                None,
                Some(10)
            ]
        );
        assert_eq!(numbers.len(), 0);
        numbers.push(5);
        assert_eq!(numbers.finish().null_count(), 0);

        let mut text = TextColumn::with_capacity(2, 4);
        let push = |text: &mut TextColumn, value: &str| {
            text.bytes_mut().extend_from_slice(value.as_bytes());
            text.end_value();
        };
        push(&mut text, "a");
        text.push_nulls(1);
        text.extend_with(["bc", "bc"].into_iter(), |bytes, value| {
            bytes.extend_from_slice(value.as_bytes())
        });
        text.push_nulls(1);
        push(&mut text, "def");
        let array = text.finish().unwrap();
        assert_eq!(
            array.iter().collect::<Vec<_>>(),
            [Some("a"), None, Some("bc"), Some("bc"), None, Some("def")]
        );
        assert_eq!(text.len(), 0);
        push(&mut text, "again");
        assert_eq!(text.finish_binary().unwrap().value(0), b"again");
    }
}

#[cfg(test)]
mod uniform_tests {
    use super::*;
    use arrow::array::Array;
    use arrow::datatypes::UInt32Type;

    #[test]
    fn all_null_columns_are_only_counted_until_a_row_has_a_value() {
        let mut numbers = Column::<UInt32Type>::with_capacity(4);
        numbers.push_nulls(3);
        assert_eq!((numbers.len(), numbers.finish().null_count()), (3, 3));
        numbers.push_nulls(2);
        numbers.push(4);
        assert_eq!(
            numbers.finish().iter().collect::<Vec<_>>(),
            [None, None, Some(4)]
        );

        let mut text = TextColumn::with_capacity(4, 4);
        text.push_nulls(2);
        assert!(text.is_all_null());
        assert_eq!(text.finish().unwrap().null_count(), 2);

        text.push_nulls(1);
        text.bytes_mut().extend_from_slice(b"c");
        text.end_value();
        text.push_nulls(1);
        assert!(!text.is_all_null());
        assert_eq!(text.len(), 3);
        assert_eq!(
            text.finish().unwrap().iter().collect::<Vec<_>>(),
            [None, Some("c"), None]
        );
        assert_eq!(text.finish().unwrap().len(), 0);
    }
}
