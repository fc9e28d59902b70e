"""search index: a word vocabulary of contact fields and company names, with
one-letter deletions for typo tolerance, kept in step by triggers

Revision ID: 0005_search_index
Revises: 0004_disclosures
Create Date: 2026-11-25 13:30:00.000000

How it works (portal/search/services.py reads it):

* ``search_terms``: every distinct first name, last name, title and city that
  some contact has, exactly as stored.
* ``search_words``: the folded words of each term and of each company name
  (lower case ASCII, accents spelled out, punctuation splitting words; names,
  cities and companies also as one joined word: "Jean-Luc" gives "jean",
  "luc" and "jeanluc").
* ``search_variants``: each word, and each of its one-letter deletions (words
  of 3 to 24 letters). Two words one edit apart (a wrong, missing, extra or
  swapped letter) always share a variant, so a search finds typo'd words with
  a handful of B-tree look-ups instead of scanning a vocabulary.
* B-tree indexes on contacts turn the matching terms into rows:
  (last_name, first_name), first_name, title, city, last_confirmed_at.

Triggers keep the three tables in step with every write to contacts and
companies, whoever makes it (the ORM, bulk COPY or executemany, raw SQL,
erasure): statement triggers with transition tables on PostgreSQL, so a COPY
of 50,000 contacts costs one set-based statement; row triggers on SQLite,
which fold text in ``search_scratch`` (its parser refuses replace() nested
more than ~25 deep) and split it at the positions in ``search_numbers``.
A term, word or variant goes when the last contact or company holding it
does, so an erased person leaves nothing behind.

Trigram indexes (pg_trgm, FTS5's trigram tokenizer) were measured and not
used: a typo in a short name leaves too few trigrams in common ("jon" and
"john" score 0.29, under pg_trgm's 0.3), see bench/search.py.

Keep in mind: a later migration that makes SQLite recreate ``contacts`` or
``companies`` (Alembic batch mode) drops these triggers with the table; it
must create them again (``sqlite_statements()``).

The folding below is a frozen copy of portal.textfold.FOLD_TABLE
(tests check the two agree); changing it needs a migration that rebuilds
search_words.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0005_search_index"
down_revision = "0004_disclosures"
branch_labels = None
depends_on = None

FIELDS = ("first_name", "last_name", "title", "city")
MAX_WORD = 40
# Longer words are found only exactly: their deletions would be noise.
MIN_VARIANT_WORD, MAX_VARIANT_WORD = 3, 24
NUMBERS = 512

_LETTER_GROUPS = {
    "a": "àáâãāăąǎÀÁÂÃĀĂĄǍ",
    "ae": "äæÄÆ",
    "aa": "åÅ",
    "c": "çćĉċčÇĆĈĊČ",
    "d": "ďđðĎĐÐ",
    "e": "èéêëēĕėęěÈÉÊËĒĔĖĘĚ",
    "g": "ĝğġģĜĞĠĢ",
    "h": "ĥħĤĦ",
    "i": "ìíîïĩīĭįıÌÍÎÏĨĪĬĮİ",
    "j": "ĵĴ",
    "k": "ķĶ",
    "l": "ĺļľŀłĹĻĽĿŁ",
    "n": "ñńņňÑŃŅŇ",
    "o": "òóôõōŏőÒÓÔÕŌŎŐ",
    "oe": "öøœÖØŒ",
    "r": "ŕŗřŔŖŘ",
    "s": "śŝşšșŚŜŞŠȘ",
    "ss": "ß",
    "t": "ţťŧțŢŤŦȚ",
    "th": "þÞ",
    "u": "ùúûũūŭůűųÙÚÛŨŪŬŮŰŲ",
    "ue": "üÜ",
    "w": "ŵŴ",
    "y": "ýÿŷÝŸŶ",
    "z": "źżžŹŻŽ",
}
_SEPARATORS = "-'’‘.,&/()\"_+:;!?@#|\\*[]{}<>=~`^%$–—·“”„´\t\n\r\xa0"


def fold_pairs():
    """(character, replacement) pairs, applied in order by nested replace()."""
    pairs = [(chr(code), chr(code).lower()) for code in range(ord("A"), ord("Z") + 1)]
    for replacement, letters in _LETTER_GROUPS.items():
        pairs += [(letter, replacement) for letter in letters]
    # Greek and Cyrillic capitals: SQLite's lower() only knows ASCII.
    for first, last in ((0x391, 0x3A9), (0x400, 0x42F)):
        pairs += [
            (chr(code), chr(code).lower())
            for code in range(first, last + 1)
            if chr(code).lower() != chr(code)
        ]
    pairs += [(separator, " ") for separator in _SEPARATORS]
    return pairs


def _quote(text):
    return "'" + text.replace("'", "''") + "'"


def fold_sql(expression):
    for old, new in fold_pairs():
        expression = f"replace({expression}, {_quote(old)}, {_quote(new)})"
    return expression


# --- SQLite: row triggers ------------------------------------------------------

# SQLite's parser refuses replace() nested much deeper than 25, so SQLite folds
# text in a scratch row, FOLD_CHUNK replacements per UPDATE.
FOLD_CHUNK = 20


def _sqlite_fold_and_split(source, where, into):
    """Statements that fold the scratch rows matching ``where``, insert their
    words into search_words (``into``: "term_id" or "company_id") and clear
    them. The rows must be in search_scratch under ``source``."""
    pairs = fold_pairs()
    where = f"source = '{source}'" + (f" AND id = {where}" if where else "")
    statements = []
    for start in range(0, len(pairs), FOLD_CHUNK):
        chunk = pairs[start : start + FOLD_CHUNK]
        expression = "value"
        for old, new in chunk:
            expression = f"replace({expression}, {_quote(old)}, {_quote(new)})"
        # Most text has none of a chunk's characters: skip rewriting the row.
        present = _glob_class("".join(old for old, _ in chunk))
        statements.append(
            f"UPDATE search_scratch SET value = {expression} "
            f"WHERE {where} AND value GLOB {_quote('*' + present + '*')}"
        )
    statements.append(
        f"""INSERT INTO search_words (word, {into})
        SELECT DISTINCT word, id FROM (
            SELECT id, substr(s, n + 1, instr(substr(s, n + 1), ' ') - 1) AS word
              FROM (SELECT id, ' ' || value || ' ' AS s FROM search_scratch
                     WHERE {where}) AS spaced
              JOIN search_numbers ON n < length(s)
             WHERE substr(s, n, 1) = ' ' AND substr(s, n + 1, 1) <> ' '
            UNION
            SELECT id, replace(trim(value), ' ', '') FROM search_scratch
             WHERE {where} AND joined AND instr(trim(value), ' ') > 0
        ) AS words WHERE length(word) BETWEEN 1 AND {MAX_WORD}"""
    )
    statements.append(f"DELETE FROM search_scratch WHERE {where}")
    return statements


def _glob_class(characters):
    """A GLOB character class matching any of ``characters``: "]" must come
    first, "-" last and "^" anywhere but first."""
    inner = "".join(sorted(set(characters) - {"]", "-", "^"}))
    if "]" in characters:
        inner = "]" + inner
    if "^" in characters:
        inner += "^"
    if "-" in characters:
        inner += "-"
    return f"[{inner}]"


def _body(statements):
    return "".join(f"\n            {statement};" for statement in statements)


def _sqlite_terms_of(row):
    return ", ".join(f"('{field}', {row}.{field})" for field in FIELDS)


def _sqlite_forget(field, only_if=""):
    """Delete OLD's term for ``field`` if no contact holds it any more."""
    return f"""DELETE FROM search_terms
         WHERE {only_if} field = '{field}' AND value = OLD.{field}
           AND NOT EXISTS (SELECT 1 FROM contacts WHERE {field} = OLD.{field})"""


def _sqlite_company_words(company):
    return [
        f"""INSERT INTO search_scratch (source, id, value, joined)
            VALUES ('c', {company}.id, {company}.name, 1)""",
        *_sqlite_fold_and_split("c", f"{company}.id", "company_id"),
    ]


def sqlite_statements():
    changed = " OR ".join(f"OLD.{f} IS NOT NEW.{f}" for f in FIELDS)
    new_terms = f"""INSERT OR IGNORE INTO search_terms (field, value)
            VALUES {_sqlite_terms_of("NEW")}"""
    return [
        f"""CREATE TRIGGER search_contacts_inserted AFTER INSERT ON contacts BEGIN
            {_body([new_terms])}
        END""",
        f"""CREATE TRIGGER search_contacts_updated
        AFTER UPDATE OF {", ".join(FIELDS)} ON contacts WHEN {changed} BEGIN
            {_body([new_terms] + [_sqlite_forget(f, f"OLD.{f} IS NOT NEW.{f} AND") for f in FIELDS])}
        END""",
        f"""CREATE TRIGGER search_contacts_deleted AFTER DELETE ON contacts BEGIN
            {_body([_sqlite_forget(f) for f in FIELDS])}
        END""",
        f"""CREATE TRIGGER search_terms_inserted AFTER INSERT ON search_terms BEGIN
            {_body([
                "INSERT INTO search_scratch (source, id, value, joined) "
                "VALUES ('t', NEW.id, NEW.value, NEW.field <> 'title')",
                *_sqlite_fold_and_split("t", "NEW.id", "term_id"),
            ])}
        END""",
        """CREATE TRIGGER search_terms_deleted AFTER DELETE ON search_terms BEGIN
            DELETE FROM search_words WHERE term_id = OLD.id;
        END""",
        f"""CREATE TRIGGER search_companies_inserted AFTER INSERT ON companies BEGIN
            {_body(_sqlite_company_words("NEW"))}
        END""",
        f"""CREATE TRIGGER search_companies_renamed AFTER UPDATE OF name ON companies
        WHEN OLD.name IS NOT NEW.name BEGIN
            {_body(["DELETE FROM search_words WHERE company_id = NEW.id", *_sqlite_company_words("NEW")])}
        END""",
        """CREATE TRIGGER search_companies_deleted AFTER DELETE ON companies BEGIN
            DELETE FROM search_words WHERE company_id = OLD.id;
        END""",
        f"""CREATE TRIGGER search_words_inserted AFTER INSERT ON search_words BEGIN
            INSERT OR IGNORE INTO search_variants (variant, word)
            VALUES (NEW.word, NEW.word);
            INSERT OR IGNORE INTO search_variants (variant, word)
            SELECT substr(NEW.word, 1, n - 1) || substr(NEW.word, n + 1), NEW.word
              FROM search_numbers
             WHERE n <= length(NEW.word)
               AND length(NEW.word) BETWEEN {MIN_VARIANT_WORD} AND {MAX_VARIANT_WORD};
        END""",
        """CREATE TRIGGER search_words_deleted AFTER DELETE ON search_words
        WHEN NOT EXISTS (SELECT 1 FROM search_words WHERE word = OLD.word) BEGIN
            DELETE FROM search_variants WHERE word = OLD.word;
        END""",
    ]


SQLITE_TRIGGERS = (
    "search_contacts_inserted",
    "search_contacts_updated",
    "search_contacts_deleted",
    "search_terms_inserted",
    "search_terms_deleted",
    "search_companies_inserted",
    "search_companies_renamed",
    "search_companies_deleted",
    "search_words_inserted",
    "search_words_deleted",
)


def sqlite_backfill():
    union = " UNION ".join(f"SELECT '{f}', {f} FROM contacts" for f in FIELDS)
    return [
        # Each new term folds and splits itself (search_terms_inserted).
        f"INSERT OR IGNORE INTO search_terms (field, value) {union}",
        """INSERT INTO search_scratch (source, id, value, joined)
           SELECT 'c', id, name, 1 FROM companies""",
        *_sqlite_fold_and_split("c", None, "company_id"),
    ]


# --- PostgreSQL: statement triggers with transition tables --------------------


def _pg_function(name, body):
    return f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
        {body}
        RETURN NULL;
        END $$"""


def _pg_terms_from(table):
    values = ", ".join(f"('{f}', {f})" for f in FIELDS)
    return f"""
        SELECT DISTINCT t.field, t.value
          FROM {table}, LATERAL (VALUES {values}) AS t(field, value)
         WHERE t.value IS NOT NULL"""


def _pg_forget(field, gone):
    """Delete terms of ``field`` listed in ``gone`` (a SELECT of values) that no
    contact holds any more."""
    return f"""
        DELETE FROM search_terms AS t
         USING ({gone}) AS gone(value)
         WHERE t.field = '{field}' AND t.value = gone.value
           AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.{field} = gone.value);"""


# The updated rows whose searchable fields changed, as they are now.
_PG_CHANGED = "(SELECT n.* FROM new_contacts n JOIN old_contacts o ON o.id = n.id WHERE " + " OR ".join(
    f"n.{f} IS DISTINCT FROM o.{f}" for f in FIELDS
) + ") AS changed"


def postgresql_statements():
    statements = [
        f"""CREATE FUNCTION search_fold(value text) RETURNS text
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            RETURN {fold_sql("value")}""",
        f"""CREATE FUNCTION search_split(value text, joined boolean)
            RETURNS SETOF text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
            SELECT DISTINCT word FROM (
                SELECT unnest(string_to_array(folded, ' ')) AS word
                  FROM (SELECT search_fold(value) AS folded) AS f
                UNION
                SELECT replace(btrim(folded), ' ', '')
                  FROM (SELECT search_fold(value) AS folded) AS f
                 WHERE joined AND position(' ' in btrim(folded)) > 0
            ) AS words WHERE length(word) BETWEEN 1 AND {MAX_WORD}
        $$""",
        _pg_function(
            "search_contacts_inserted",
            f"""INSERT INTO search_terms (field, value)
                {_pg_terms_from("new_contacts")}
                ORDER BY 1, 2
                ON CONFLICT (field, value) DO NOTHING;""",
        ),
        _pg_function(
            "search_contacts_updated",
            f"""INSERT INTO search_terms (field, value)
                {_pg_terms_from(_PG_CHANGED)}
                ORDER BY 1, 2
                ON CONFLICT (field, value) DO NOTHING;"""
            + "".join(
                _pg_forget(
                    f,
                    f"""SELECT DISTINCT o.{f} FROM old_contacts o
                        JOIN new_contacts n ON n.id = o.id
                        WHERE o.{f} IS DISTINCT FROM n.{f} AND o.{f} IS NOT NULL""",
                )
                for f in FIELDS
            ),
        ),
        _pg_function(
            "search_contacts_deleted",
            "".join(
                _pg_forget(f, f"SELECT DISTINCT {f} FROM old_contacts WHERE {f} IS NOT NULL")
                for f in FIELDS
            ),
        ),
        _pg_function(
            "search_terms_inserted",
            """INSERT INTO search_words (word, term_id)
               SELECT w.word, t.id FROM new_terms AS t,
                      LATERAL search_split(t.value, t.field <> 'title') AS w(word);""",
        ),
        _pg_function(
            "search_terms_deleted",
            """DELETE FROM search_words AS w USING old_terms AS t
                WHERE w.term_id = t.id;""",
        ),
        _pg_function(
            "search_companies_inserted",
            """INSERT INTO search_words (word, company_id)
               SELECT w.word, c.id FROM new_companies AS c,
                      LATERAL search_split(c.name, true) AS w(word);""",
        ),
        _pg_function(
            "search_companies_renamed",
            """DELETE FROM search_words AS w USING old_companies AS o, new_companies AS n
                WHERE w.company_id = o.id AND n.id = o.id AND n.name IS DISTINCT FROM o.name;
               INSERT INTO search_words (word, company_id)
               SELECT w.word, n.id FROM new_companies AS n
                 JOIN old_companies AS o ON o.id = n.id AND n.name IS DISTINCT FROM o.name,
                      LATERAL search_split(n.name, true) AS w(word);""",
        ),
        _pg_function(
            "search_companies_deleted",
            """DELETE FROM search_words AS w USING old_companies AS c
                WHERE w.company_id = c.id;""",
        ),
        _pg_function(
            "search_words_inserted",
            f"""INSERT INTO search_variants (variant, word)
                SELECT DISTINCT v.variant, w.word
                  FROM (SELECT DISTINCT word FROM new_words) AS w,
                       LATERAL (
                           SELECT w.word
                           UNION ALL
                           SELECT substr(w.word, 1, n - 1) || substr(w.word, n + 1)
                             FROM generate_series(1, length(w.word)) AS n
                            WHERE length(w.word) BETWEEN {MIN_VARIANT_WORD}
                                                     AND {MAX_VARIANT_WORD}
                       ) AS v(variant)
                 ORDER BY 1, 2
                ON CONFLICT (variant, word) DO NOTHING;""",
        ),
        _pg_function(
            "search_words_deleted",
            """DELETE FROM search_variants AS v
                USING (SELECT DISTINCT word FROM old_words) AS o
                WHERE v.word = o.word
                  AND NOT EXISTS (SELECT 1 FROM search_words w WHERE w.word = o.word);""",
        ),
    ]
    for table, event, name, transitions in PG_TRIGGERS:
        statements.append(
            f"""CREATE TRIGGER {name} AFTER {event} ON {table}
                REFERENCING {transitions}
                FOR EACH STATEMENT EXECUTE FUNCTION {name}()"""
        )
    return statements


PG_TRIGGERS = (
    ("contacts", "INSERT", "search_contacts_inserted", "NEW TABLE AS new_contacts"),
    (
        "contacts",
        "UPDATE",
        "search_contacts_updated",
        "OLD TABLE AS old_contacts NEW TABLE AS new_contacts",
    ),
    ("contacts", "DELETE", "search_contacts_deleted", "OLD TABLE AS old_contacts"),
    ("search_terms", "INSERT", "search_terms_inserted", "NEW TABLE AS new_terms"),
    ("search_terms", "DELETE", "search_terms_deleted", "OLD TABLE AS old_terms"),
    ("companies", "INSERT", "search_companies_inserted", "NEW TABLE AS new_companies"),
    (
        "companies",
        "UPDATE",
        "search_companies_renamed",
        "OLD TABLE AS old_companies NEW TABLE AS new_companies",
    ),
    ("companies", "DELETE", "search_companies_deleted", "OLD TABLE AS old_companies"),
    ("search_words", "INSERT", "search_words_inserted", "NEW TABLE AS new_words"),
    ("search_words", "DELETE", "search_words_deleted", "OLD TABLE AS old_words"),
)
PG_FUNCTIONS = ("search_fold(text)", "search_split(text, boolean)") + tuple(
    f"{name}()" for _, _, name, _ in PG_TRIGGERS
)


def postgresql_backfill():
    union = " UNION ".join(
        f"SELECT '{f}', {f} FROM contacts WHERE {f} IS NOT NULL" for f in FIELDS
    )
    return [
        f"INSERT INTO search_terms (field, value) {union} ON CONFLICT DO NOTHING",
        """INSERT INTO search_words (word, company_id)
           SELECT w.word, c.id FROM companies AS c,
                  LATERAL search_split(c.name, true) AS w(word)""",
    ]


# --- the migration ------------------------------------------------------------


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "search_numbers",
        sa.Column("n", sa.Integer(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_search_numbers")),
    )
    op.create_table(
        "search_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_terms")),
        sa.UniqueConstraint("field", "value", name=op.f("uq_search_terms_field_value")),
    )
    op.create_table(
        "search_words",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("word", sa.String(length=MAX_WORD), nullable=False),
        sa.Column("term_id", sa.Integer(), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_words")),
    )
    op.create_index("ix_search_words_word", "search_words", ["word"])
    op.create_index("ix_search_words_term_id", "search_words", ["term_id"])
    op.create_index("ix_search_words_company_id", "search_words", ["company_id"])
    op.create_table(
        "search_variants",
        sa.Column("variant", sa.String(length=MAX_WORD), nullable=False),
        sa.Column("word", sa.String(length=MAX_WORD), nullable=False),
        sa.PrimaryKeyConstraint("variant", "word", name=op.f("pk_search_variants")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_search_variants_word", "search_variants", ["word"])
    op.create_table(
        "search_scratch",
        sa.Column("source", sa.String(length=1), nullable=False),
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("joined", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("source", "id", name=op.f("pk_search_scratch")),
    )
    op.bulk_insert(
        sa.table("search_numbers", sa.column("n", sa.Integer())),
        [{"n": n} for n in range(1, NUMBERS + 1)],
    )

    op.create_index("ix_contacts_last_first", "contacts", ["last_name", "first_name"])
    op.create_index("ix_contacts_first_name", "contacts", ["first_name"])
    op.create_index("ix_contacts_title", "contacts", ["title"])
    op.create_index("ix_contacts_city", "contacts", ["city"])
    op.create_index(
        "ix_contacts_last_confirmed_at",
        "contacts",
        ["last_confirmed_at"],
        postgresql_ops={"last_confirmed_at": "DESC NULLS LAST"},
    )

    # Triggers first, then the backfill: a row written meanwhile is covered
    # either way (the backfill skips terms that already exist).
    if dialect == "sqlite":
        statements = sqlite_statements() + sqlite_backfill() + ["ANALYZE"]
    elif dialect == "postgresql":
        statements = (
            postgresql_statements()
            + postgresql_backfill()
            + [f"ANALYZE {t}" for t in ("search_terms", "search_words", "search_variants")]
        )
    else:
        raise NotImplementedError(f"no search index for {dialect}")
    for statement in statements:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    elif dialect == "postgresql":
        for table, _, name, _ in PG_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for signature in PG_FUNCTIONS:
            op.execute(f"DROP FUNCTION IF EXISTS {signature}")
    for index in (
        "ix_contacts_last_confirmed_at",
        "ix_contacts_city",
        "ix_contacts_title",
        "ix_contacts_first_name",
        "ix_contacts_last_first",
    ):
        op.drop_index(index, table_name="contacts")
    op.drop_index("ix_search_variants_word", table_name="search_variants")
    op.drop_table("search_variants")
    op.drop_index("ix_search_words_company_id", table_name="search_words")
    op.drop_index("ix_search_words_term_id", table_name="search_words")
    op.drop_index("ix_search_words_word", table_name="search_words")
    op.drop_table("search_words")
    op.drop_table("search_terms")
    op.drop_table("search_scratch")
    op.drop_table("search_numbers")
