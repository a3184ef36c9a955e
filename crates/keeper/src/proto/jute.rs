//! Jute primitives: the big-endian encoding every ZooKeeper record is made of.
//!
//! Decoding never panics: every read checks the remaining length and returns
//! [`DecodeError`] instead, so malformed client input only fails its own request.

use bytes::{BufMut, Bytes};

/// Why a jute record could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends early: needed {needed} more bytes")]
    UnexpectedEof { needed: usize },
    #[error("negative or oversized length {0}")]
    BadLength(i32),
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    #[error("unknown value {value} for {what}")]
    UnknownValue { what: &'static str, value: i32 },
}

/// Reads jute values from a byte slice.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEof {
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i64(&mut self) -> Result<i64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }

    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1)?[0] != 0)
    }

    /// A `buffer`: length-prefixed bytes; -1 (null) reads as empty.
    pub fn buffer(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(&[]);
        }
        self.take(len as usize)
    }

    pub fn bytes(&mut self) -> Result<Bytes, DecodeError> {
        self.buffer().map(Bytes::copy_from_slice)
    }

    /// A `buffer` that keeps null (-1) apart from empty: znode data does.
    pub fn opt_bytes(&mut self) -> Result<Option<Bytes>, DecodeError> {
        let len = self.i32()?;
        if len < 0 {
            return Ok(None);
        }
        self.take(len as usize)
            .map(|b| Some(Bytes::copy_from_slice(b)))
    }

    /// A `ustring`; null reads as the empty string.
    pub fn string(&mut self) -> Result<String, DecodeError> {
        let raw = self.buffer()?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| DecodeError::InvalidUtf8)
    }

    /// A `vector<T>`; null reads as empty. The count is checked against the
    /// bytes left so a hostile count cannot make us allocate gigabytes.
    pub fn vec<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let count = self.i32()?;
        if count < 0 {
            return Ok(Vec::new());
        }
        if count as usize > self.buf.len() {
            return Err(DecodeError::BadLength(count));
        }
        let mut out = Vec::with_capacity(count as usize);
        for _ in 0..count {
            out.push(item(self)?);
        }
        Ok(out)
    }

    pub fn strings(&mut self) -> Result<Vec<String>, DecodeError> {
        self.vec(Self::string)
    }
}

/// Writes jute values; implemented for every `BufMut` (we use `BytesMut` and `Vec<u8>`).
pub trait JuteWrite: BufMut {
    fn put_bool_j(&mut self, v: bool) {
        self.put_u8(v as u8);
    }
    fn put_buffer(&mut self, v: &[u8]) {
        self.put_i32(v.len() as i32);
        self.put_slice(v);
    }
    fn put_opt_buffer(&mut self, v: Option<&[u8]>) {
        match v {
            Some(v) => self.put_buffer(v),
            None => self.put_i32(-1),
        }
    }
    fn put_string(&mut self, v: &str) {
        self.put_buffer(v.as_bytes());
    }
    fn put_strings<S: AsRef<str>>(&mut self, v: &[S]) {
        self.put_i32(v.len() as i32);
        for s in v {
            self.put_string(s.as_ref());
        }
    }
}

impl<B: BufMut + ?Sized> JuteWrite for B {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_primitives() {
        let mut buf = Vec::new();
        buf.put_i32(-7);
        buf.put_i64(1 << 40);
        buf.put_bool_j(true);
        buf.put_string("/a");
        buf.put_buffer(b"xyz");
        buf.put_strings(&["p", "q"]);
        let mut r = Reader::new(&buf);
        assert_eq!(r.i32().unwrap(), -7);
        assert_eq!(r.i64().unwrap(), 1 << 40);
        assert!(r.bool().unwrap());
        assert_eq!(r.string().unwrap(), "/a");
        assert_eq!(r.buffer().unwrap(), b"xyz");
        assert_eq!(r.strings().unwrap(), vec!["p", "q"]);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn null_buffer_and_vector_read_as_empty() {
        let mut buf = Vec::new();
        buf.put_i32(-1);
        buf.put_i32(-1);
        let mut r = Reader::new(&buf);
        assert_eq!(r.buffer().unwrap(), b"");
        assert!(r.strings().unwrap().is_empty());
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error() {
        assert!(Reader::new(&[0, 0]).i32().is_err());
        let mut buf = Vec::new();
        buf.put_i32(100);
        buf.put_slice(b"short");
        assert!(Reader::new(&buf).buffer().is_err());
        let mut buf = Vec::new();
        buf.put_i32(i32::MAX);
        assert!(Reader::new(&buf).strings().is_err());
    }
}
