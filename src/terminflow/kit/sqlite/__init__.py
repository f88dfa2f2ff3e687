"""Django's SQLite backend, taking the write lock by fine-grained polling (see ``base``)."""
