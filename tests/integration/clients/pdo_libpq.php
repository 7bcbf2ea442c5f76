<?php
// PHP PDO with the libpq preset's variables; prints current_user. Emulated
// prepares: PgBouncer in transaction mode cannot keep prepared statements.
$dsn = sprintf(
    'pgsql:host=%s;port=%s;dbname=%s;sslmode=%s',
    getenv('PGHOST'), getenv('PGPORT'), getenv('PGDATABASE'), getenv('PGSSLMODE')
);
$pdo = new PDO($dsn, getenv('PGUSER'), getenv('PGPASSWORD'), [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
    PDO::ATTR_EMULATE_PREPARES => true,
]);
echo $pdo->query('select current_user')->fetchColumn(), "\n";
