//! [`DenseVector`] and [`DenseVector32`]: vectors of floats that cross workers as one block of
//! bytes.

use std::marker::PhantomData;

use serde::de::{Error, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A vector of `f64` serialized as one block of little-endian bytes rather than number by
/// number: for payloads of many numbers (a round's change of every row's prediction), where a
/// codec's per-element calls cost more than the copy.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DenseVector(pub Vec<f64>);

/// [`DenseVector`]'s single-precision sibling: half the bytes, for payloads whose rounding the
/// caller accounts for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DenseVector32(pub Vec<f32>);

/// A float with a fixed-width little-endian encoding.
trait Element: Copy {
    const WIDTH: usize;
    fn write(self, out: &mut [u8]);
    fn read(bytes: &[u8]) -> Self;
}

impl Element for f64 {
    const WIDTH: usize = 8;
    fn write(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    fn read(bytes: &[u8]) -> Self {
        f64::from_le_bytes(bytes.try_into().expect("8 bytes"))
    }
}

impl Element for f32 {
    const WIDTH: usize = 4;
    fn write(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_le_bytes());
    }
    fn read(bytes: &[u8]) -> Self {
        f32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    }
}

fn serialize_block<T: Element, S: Serializer>(
    values: &[T],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut bytes = vec![0u8; T::WIDTH * values.len()];
    for (chunk, &value) in bytes.chunks_exact_mut(T::WIDTH).zip(values) {
        value.write(chunk);
    }
    serializer.serialize_bytes(&bytes)
}

/// Reads a block of `T`s from a byte string.
struct BlockVisitor<T>(PhantomData<T>);

impl<'de, T: Element> Visitor<'de> for BlockVisitor<T> {
    type Value = Vec<T>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            formatter,
            "a byte string of {}-byte little-endian floats",
            T::WIDTH
        )
    }

    fn visit_bytes<E: Error>(self, bytes: &[u8]) -> Result<Vec<T>, E> {
        if bytes.len() % T::WIDTH != 0 {
            return Err(E::invalid_length(bytes.len(), &self));
        }
        Ok(bytes.chunks_exact(T::WIDTH).map(T::read).collect())
    }

    // Self-describing formats may hand bytes over as a sequence.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut bytes = Vec::new();
        while let Some(byte) = seq.next_element::<u8>()? {
            bytes.push(byte);
        }
        self.visit_bytes(&bytes)
    }
}

impl Serialize for DenseVector {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_block(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for DenseVector {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_bytes(BlockVisitor(PhantomData))
            .map(DenseVector)
    }
}

impl Serialize for DenseVector32 {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_block(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for DenseVector32 {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_bytes(BlockVisitor(PhantomData))
            .map(DenseVector32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mailbox::{decode, encode};

    #[test]
    fn round_trips_every_value_bit_for_bit() {
        let values = vec![
            0.0,
            -0.0,
            1.5,
            -2.25e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            1.0 / 3.0,
        ];
        let decoded: DenseVector = decode(&encode(&DenseVector(values.clone())).unwrap()).unwrap();
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&decoded.0), bits(&values));
        let empty: DenseVector = decode(&encode(&DenseVector::default()).unwrap()).unwrap();
        assert!(empty.0.is_empty());
    }

    #[test]
    fn single_precision_round_trips_too() {
        let values = vec![0.0f32, -1.5, f32::MAX, f32::MIN_POSITIVE, 1.0 / 3.0];
        let bytes = encode(&DenseVector32(values.clone())).unwrap();
        let decoded: DenseVector32 = decode(&bytes).unwrap();
        assert_eq!(decoded.0, values);
        // Half the bytes of the f64 vector (plus bincode's length prefix).
        let wide = encode(&DenseVector(vec![0.0; 5])).unwrap();
        assert_eq!(wide.len() - bytes.len(), 20);
    }

    #[test]
    fn a_truncated_block_is_an_error() {
        let mut bytes = encode(&DenseVector(vec![1.0, 2.0])).unwrap();
        // bincode writes the length first; claim 15 bytes and drop one.
        bytes[0] = 15;
        bytes.pop();
        assert!(decode::<DenseVector>(&bytes).is_err());
    }
}
