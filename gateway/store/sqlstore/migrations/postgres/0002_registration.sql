-- Registration (报名): the exam catalog and the candidates' applications,
-- kept by sqlstore's registration.Store. Times are timestamptz
-- (microseconds, UTC); NULL where the moment has not happened yet. Codes
-- and account ids sort bytewise (COLLATE "C"), as Go compares strings.
-- JSON columns are json, not jsonb: kept verbatim, never queried inside.
-- Tables are prefixed reg_ to keep them apart from the gateway's own.

CREATE TABLE reg_exams (
	code          text COLLATE "C" PRIMARY KEY,
	name          text NOT NULL,
	start_at      timestamptz NOT NULL,
	end_at        timestamptz NOT NULL,
	age_reference timestamptz NOT NULL,
	-- The 报名序号 the next Submit hands out. Imports never change it.
	next_number   bigint NOT NULL DEFAULT 1
);

CREATE TABLE reg_areas (
	exam_code text COLLATE "C" NOT NULL REFERENCES reg_exams (code),
	code      text COLLATE "C" NOT NULL,
	name      text NOT NULL,
	PRIMARY KEY (exam_code, code)
);

CREATE TABLE reg_units (
	exam_code text COLLATE "C" NOT NULL,
	code      text COLLATE "C" NOT NULL,
	area_code text COLLATE "C" NOT NULL,
	name      text NOT NULL,
	PRIMARY KEY (exam_code, code),
	FOREIGN KEY (exam_code, area_code) REFERENCES reg_areas (exam_code, code)
);
CREATE INDEX reg_units_area ON reg_units (exam_code, area_code, code);

CREATE TABLE reg_positions (
	exam_code    text COLLATE "C" NOT NULL,
	code         text COLLATE "C" NOT NULL,
	area_code    text COLLATE "C" NOT NULL,
	unit_code    text COLLATE "C" NOT NULL,
	name         text NOT NULL,
	headcount    integer NOT NULL,
	requirements json NOT NULL, -- catalog.Requirements
	PRIMARY KEY (exam_code, code),
	FOREIGN KEY (exam_code, unit_code) REFERENCES reg_units (exam_code, code)
);
CREATE INDEX reg_positions_unit ON reg_positions (exam_code, unit_code, code);

-- One application per exam and account. A chosen position must exist, so
-- an import cannot remove it; Submit alone sets step 9 and number.
CREATE TABLE reg_applications (
	exam_code            text COLLATE "C" NOT NULL REFERENCES reg_exams (code),
	account_id           text COLLATE "C" NOT NULL,
	portal               text NOT NULL,
	step                 smallint NOT NULL CHECK (step BETWEEN 1 AND 9),
	profile              json NOT NULL, -- registration.Profile
	position_code        text COLLATE "C",
	review_outcome       text NOT NULL,
	review_position_code text NOT NULL,
	review_reasons       json NOT NULL, -- []review.Reason
	review_at            timestamptz,
	pledged_at           timestamptz,
	notice_at            timestamptz,
	terms_accepted_at    timestamptz,
	submitted_at         timestamptz,
	number               bigint,
	created_at           timestamptz NOT NULL,
	updated_at           timestamptz NOT NULL,
	version              bigint NOT NULL,
	PRIMARY KEY (exam_code, account_id),
	UNIQUE (exam_code, number),
	FOREIGN KEY (exam_code, position_code) REFERENCES reg_positions (exam_code, code),
	CHECK ((step = 9) = (number IS NOT NULL))
);
-- Step counts, and the completed-only export in account order.
CREATE INDEX reg_applications_step ON reg_applications (exam_code, step, account_id);
-- Per-position counts (covering), and the check that keeps chosen
-- positions from being removed.
CREATE INDEX reg_applications_position ON reg_applications (exam_code, position_code, step, review_outcome);
