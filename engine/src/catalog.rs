//! The intent catalog (being written).
