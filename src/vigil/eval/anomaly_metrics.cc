// In progress: lands with its issue.
