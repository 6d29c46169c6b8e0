"""The knowledge library: curated entries and uploaded documents, matched with jieba (no Telegram, no database)."""

import os

# Sound-alike repair compares the readings of single characters; pypinyin's phrase table (≈0.2 s to load on every
# cold start) only refines polyphones inside known phrases, the same way on both sides of the comparison.
os.environ.setdefault("PYPINYIN_NO_PHRASES", "1")
