"""USB export: copy recordings onto a stick as `Hookline/YYYY-MM-DD/<HHMMSS>_L<line>_<in|out>_<number>.mp3`,
each read back and checked against the catalog's SHA-256, with an offline index.html, index.csv,
SHA256SUMS and the audit log's head beside them. One job per module:

- selection.py: which calls (dates in the box's zone, line, number, --new for this stick)
- names.py: file names safe on FAT32 and exFAT, with no collisions
- stick.py: the stick's id, its journal of verified files (resume), the lock, leftovers
- batches.py: the export's copy, a group commit (one flush per group), read back and verified in a thread
- copying.py: one verified copy (temporary name, fsync, read back, rename), for the access package
- indexes.py / page.py: index.csv, SHA256SUMS, the audit head, index.html
- job.py: the job that ties them together and its outcome
"""
