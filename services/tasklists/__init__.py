"""Task lists (任务清单): reading official plans into tasks, as a pure library (no database)."""
