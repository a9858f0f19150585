-- Registration (报名): the exam catalog and the candidates' applications,
-- kept by sqlstore's registration.Store. Times are INTEGER microseconds
-- since the Unix epoch, UTC; NULL where the moment has not happened yet.
-- Tables are prefixed reg_ to keep them apart from the gateway's own.

CREATE TABLE reg_exams (
	code          TEXT PRIMARY KEY,
	name          TEXT NOT NULL,
	start_at      INTEGER NOT NULL,
	end_at        INTEGER NOT NULL,
	age_reference INTEGER NOT NULL,
	-- The 报名序号 the next Submit hands out. Imports never change it.
	next_number   INTEGER NOT NULL DEFAULT 1
) STRICT;

CREATE TABLE reg_areas (
	exam_code TEXT NOT NULL REFERENCES reg_exams (code),
	code      TEXT NOT NULL,
	name      TEXT NOT NULL,
	PRIMARY KEY (exam_code, code)
) STRICT;

CREATE TABLE reg_units (
	exam_code TEXT NOT NULL,
	code      TEXT NOT NULL,
	area_code TEXT NOT NULL,
	name      TEXT NOT NULL,
	PRIMARY KEY (exam_code, code),
	FOREIGN KEY (exam_code, area_code) REFERENCES reg_areas (exam_code, code)
) STRICT;
CREATE INDEX reg_units_area ON reg_units (exam_code, area_code, code);

CREATE TABLE reg_positions (
	exam_code    TEXT NOT NULL,
	code         TEXT NOT NULL,
	area_code    TEXT NOT NULL,
	unit_code    TEXT NOT NULL,
	name         TEXT NOT NULL,
	headcount    INTEGER NOT NULL,
	requirements TEXT NOT NULL, -- catalog.Requirements as JSON
	PRIMARY KEY (exam_code, code),
	FOREIGN KEY (exam_code, unit_code) REFERENCES reg_units (exam_code, code)
) STRICT;
CREATE INDEX reg_positions_unit ON reg_positions (exam_code, unit_code, code);

-- One application per exam and account. A chosen position must exist, so
-- an import cannot remove it; Submit alone sets step 9 and number.
CREATE TABLE reg_applications (
	exam_code            TEXT NOT NULL REFERENCES reg_exams (code),
	account_id           TEXT NOT NULL,
	portal               TEXT NOT NULL,
	step                 INTEGER NOT NULL CHECK (step BETWEEN 1 AND 9),
	profile              TEXT NOT NULL, -- registration.Profile as JSON
	position_code        TEXT,
	review_outcome       TEXT NOT NULL,
	review_position_code TEXT NOT NULL,
	review_reasons       TEXT NOT NULL, -- []review.Reason as JSON
	review_at            INTEGER,
	pledged_at           INTEGER,
	notice_at            INTEGER,
	terms_accepted_at    INTEGER,
	submitted_at         INTEGER,
	number               INTEGER,
	created_at           INTEGER NOT NULL,
	updated_at           INTEGER NOT NULL,
	version              INTEGER NOT NULL,
	PRIMARY KEY (exam_code, account_id),
	UNIQUE (exam_code, number),
	FOREIGN KEY (exam_code, position_code) REFERENCES reg_positions (exam_code, code),
	CHECK ((step = 9) = (number IS NOT NULL))
) STRICT;
-- Step counts, and the completed-only export in account order.
CREATE INDEX reg_applications_step ON reg_applications (exam_code, step, account_id);
-- Per-position counts (covering), and the check that keeps chosen
-- positions from being removed.
CREATE INDEX reg_applications_position ON reg_applications (exam_code, position_code, step, review_outcome);
