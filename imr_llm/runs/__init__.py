"""The one letter loop and what runs it: inputs (`inputs`), the parse worker pool and Ctrl-C
(`workers`), the loop (`loop`), its sinks (`sinks`: JSONL, CSV, explanation pages), the summary
with cost and progress (`summary`), and the engines over it: the resumable batch (`batch`), Ray
(`ray`) and the OpenAI Batch API (`openai_batch`)."""
