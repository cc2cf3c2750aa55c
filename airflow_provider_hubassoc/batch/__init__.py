"""The run engine: input -> pair store -> chunks -> send -> outcomes -> report -> summary."""
