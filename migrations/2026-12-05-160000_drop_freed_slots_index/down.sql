-- Nothing to restore: the previous migration builds no index any more.
SELECT 1;
