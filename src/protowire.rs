//! The Protocol Buffers wire format: the few encoders that the protobuf exposition format and
//! remote write need to write their messages by hand.
//!
//! Each `put_*` function appends one field: its key (field number and wire type) and its value.
//! Nested messages are written into their own buffer first and appended with [`put_bytes`],
//! since a length-delimited field needs the length before the contents.

/// Wire type of varint fields (integers, booleans and enums).
const VARINT: u8 = 0;
/// Wire type of 64-bit fixed-width fields (`double`).
const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (strings, bytes, nested messages, packed repeats).
const LENGTH_DELIMITED: u8 = 2;

fn put_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    put_varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// Appends `value` as a base-128 varint, without a field key.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Appends `value` zigzag-encoded, as `sint32` and `sint64` fields and packed `sint64` repeats
/// store it, without a field key.
pub fn put_zigzag(out: &mut Vec<u8>, value: i64) {
    put_varint(out, ((value << 1) ^ (value >> 63)) as u64);
}

/// Appends a `uint32`, `uint64` or enum field.
pub fn put_uint(out: &mut Vec<u8>, field: u32, value: u64) {
    put_key(out, field, VARINT);
    put_varint(out, value);
}

/// Appends an `int64` field: a negative value takes ten bytes, as its two's complement.
pub fn put_int(out: &mut Vec<u8>, field: u32, value: i64) {
    put_key(out, field, VARINT);
    put_varint(out, value as u64);
}

/// Appends an `sint32` or `sint64` field.
pub fn put_sint(out: &mut Vec<u8>, field: u32, value: i64) {
    put_key(out, field, VARINT);
    put_zigzag(out, value);
}

/// Appends a `double` field.
pub fn put_double(out: &mut Vec<u8>, field: u32, value: f64) {
    put_key(out, field, FIXED64);
    out.extend_from_slice(&value.to_le_bytes());
}

/// Appends a `string`, `bytes` or embedded message field.
pub fn put_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    put_key(out, field, LENGTH_DELIMITED);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag() {
        let mut out = Vec::new();
        put_varint(&mut out, 300);
        assert_eq!(out, [0xAC, 0x02]);
        out.clear();
        for value in [0, -1, 1, -2] {
            put_zigzag(&mut out, value);
        }
        assert_eq!(out, [0, 1, 2, 3]);
    }

    #[test]
    fn int64_fields() {
        let mut out = Vec::new();
        put_int(&mut out, 2, 1_700_000_000_000);
        assert_eq!(out, [0x10, 0x80, 0xD0, 0x95, 0xFF, 0xBC, 0x31]);
        out.clear();
        put_int(&mut out, 2, -1);
        assert_eq!(
            out,
            [
                0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01
            ]
        );
    }

    #[test]
    fn keys_carry_wire_types() {
        let mut out = Vec::new();
        put_double(&mut out, 1, 1.0);
        put_bytes(&mut out, 2, b"ab");
        assert_eq!(
            out,
            [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0x12, 2, b'a', b'b']
        );
    }
}
