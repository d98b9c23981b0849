"""The event contract: vocabulary, validation and the input shapes (DESIGN section 2)."""
