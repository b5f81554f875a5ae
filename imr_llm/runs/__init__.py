"""The one letter loop (`loop`) and what runs it: inputs, parse workers and Ctrl-C, sinks, the
summary, and the engines: the resumable batch, Ray and the OpenAI Batch API."""
