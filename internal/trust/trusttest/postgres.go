package trusttest

// PsqlProgram is PostgreSQL's client, which applies notary's migrations.
const PsqlProgram = "psql"
