"""Content: documents (văn bản) and articles (tin, bài) published by an org for its subtree.

- `documents`: drafts, publishing, attached files, relays, receipts, coverage, sections.
- `articles`: the editorial workflow (draft → submitted → published / rejected → archived).
- `feed`: the member's feed and the one search over documents and articles.
- `extraction`: the worker job that turns a document's PDF/DOCX files into sections.
- `numbers`: document numbers normalised for search (57-NQ/TW ≈ 57/NQ-TW ≈ NQ 57).
"""
