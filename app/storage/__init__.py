"""SQLite (SQLAlchemy) is the source of truth; FAISS files are derived caches rebuilt from it."""
