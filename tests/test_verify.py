"""The verifier's rules that need no model: hard checks, what the judge reads, answer type."""

from __future__ import annotations

from rag.answer.relevance import asks_for_figure, misses_figure, names_absent, off_topic
from rag.answer.judge import ScriptedJudge
from rag.answer.verify import (EvidenceVerifier, Passage, ProbabilityJudge, Support, abbreviations, crossed, denied,
                              hard_failures, lead_name, list_elements, misattributed, misbound, swapped_behalf)


def test_figures_and_names_of_the_question_count_as_given():
    passage = "The delegate of the Solomon Islands spoke for the Pacific Islands Forum."
    claim = "At the 2025 meeting, the Solomon Islands spoke for the Pacific Islands Forum."
    assert hard_failures(claim, passage) == ["number 2025 not in the passage"]
    assert hard_failures(claim, passage, given="Who spoke at the 2025 meeting?") == []
    # a figure in the question does not excuse a different one
    assert hard_failures("It had 44 members in 2025.", passage, given="In 2025?") == ["number 44 not in the passage"]
    assert hard_failures("Norway spoke.", passage, given="Did Norway speak?") == []


def test_document_date_counts_as_a_source_of_figures():
    from rag.answer.cite import passage
    from rag.types import Document

    doc = Document(id="d", source="docs_raw/x.txt", title="Hearing summary", text="The hearing was held in New York.", format="txt",
                   date="2025-06-30")
    p = passage(doc, 0, len(doc.text))
    assert hard_failures("The hearing in 2025 was held in New York.", doc.text, p.title) == []


class _Recorder:
    def __init__(self):
        self.seen, self.claims = [], []

    def supports(self, claim, evidence):
        self.seen.append(evidence)
        self.claims.append(claim)
        return True


def test_a_thousands_separator_followed_by_a_space_is_one_figure():
    """Extracted text sometimes reads "5, 446 travelers": the claim "5,446 travelers" is in it,
    and an invented figure still is not."""
    passage = "From May 1996 to April 1998 5, 446 travelers were included and 4,158 questionnaires returned."
    assert hard_failures("5,446 travelers were included.", passage) == []
    assert hard_failures("5,447 travelers were included.", passage) == ["number 5447 not in the passage"]


def test_a_claim_copying_a_spaced_thousands_separator_states_one_figure():
    """The model copies the spacing it saw, or adds one: "4, 158 questionnaires" is the passage's
    4,158, and both forms of the passage's "5, 446" are in it; a spaced figure the passage does
    not state is still caught, as its two pieces."""
    passage = "From May 1996 to April 1998 5, 446 travelers were included and 4,158 questionnaires returned."
    assert hard_failures("5, 446 travelers were included and 4, 158 questionnaires returned.", passage) == []
    assert hard_failures("5, 446 travelers and 4, 159 questionnaires.", passage) == [
        "number 159 not in the passage", "number 4 not in the passage"]


def test_an_ordinal_written_with_digits_is_a_figure_the_passage_must_state():
    """An ordinal written with digits: "the 20th anniversary" passed against "the twenty-fifth
    anniversary": "20th" was not read as a figure at all."""
    passage = "This year marks the twenty-fifth anniversary of the Convention, now ratified by 185 States Parties."
    assert hard_failures("The message marked the 20th anniversary of the Convention.", passage) == [
        "number 20 not in the passage"]
    assert hard_failures("The message marked the 25th anniversary of the Convention.", passage) == []
    assert hard_failures("It was the 185th State Party.", passage) == []
    assert hard_failures("It was the 3rd review, and the 21st.", passage) == [
        "number 21 not in the passage", "number 3 not in the passage"]


def test_judge_reads_the_best_window_not_the_whole_chunk():
    text = "First sentence about budgets. Second sentence about shelters. Third sentence about courts."
    judge = _Recorder()
    verifier = EvidenceVerifier(embedder=None, judge=judge)
    start = text.index("Second")
    end = text.index("Third") - 1
    verdict = verifier.resolve("Shelters were discussed.", Passage(text, 0, len(text)), Support(None, 0.55, start, end))
    assert verdict.supported and verdict.judged
    assert judge.seen == ["Second sentence about shelters."]


def test_questions_asking_for_a_figure():
    for q in ("How many States Parties are there?", "How much was pledged?", "What percentage of victims are women?",
              "In what year was the Plan adopted?", "What share of cases are forced labour?",
              "What figures did she give?"):
        assert asks_for_figure(q), q
    # a quantity named right after "what" (from questions over scientific abstracts)
    for q in ("What relapse rate did the regimen achieve among HIV-positive patients?",
              "What weekly tafenoquine dose did the soldiers take?", "What daily dose of primaquine was given?",
              "What rise in victim detection did she cite?", "What is the prevalence of HIV in the cohort?"):
        assert asks_for_figure(q), q
    # a magnitude asked by its dimension or in a unit (from questions over reference manuals)
    for q in ("How big, in bytes, is the buffer the reader allocates?", "How long may a file comment be?",
              "What resolution does the printer assume when none is given?",
              "What is the default margin of the page, in points?", "What size is the window by default?"):
        assert asks_for_figure(q), q
    assert misses_figure("How big, in bytes, is the default buffer?", ["The default buffer is used when none is given."])
    assert not asks_for_figure("What does the in-place flag do?")
    for q in ("Who spoke for the Pacific Islands Forum?", "What did the Secretary-General urge?",
              "Which article did he highlight?", "What gave rise to the increase in trafficking?",
              "What caused the rise in cases?", "What factors explain the fall in convictions?"):
        assert not asks_for_figure(q), q
    assert misses_figure("What relapse rate did the regimen achieve?", ["Relapse was rare."])
    assert misses_figure("How many convictions were there?", ["Convictions remain low."])
    assert not misses_figure("How many convictions were there?", ["There were 12 convictions."])
    assert not misses_figure("How many were convicted?", ["A third of them were convicted."])
    assert misses_figure("How many victims were found in 2019?", ["Victims were found in 2019."])
    assert not misses_figure("Who spoke?", ["The delegate of Ghana spoke."])


def test_ordinals_and_question_figures_are_not_answers():
    q = "How many people have been convicted under that law since it was introduced?"
    assert misses_figure(q, ["First, Member States must invest in solutions."])
    assert misses_figure("On what date will the OSCE publish its findings?", ["The OSCE will publish its findings."])
    assert misses_figure("What is the annual budget of the Fund?", ["The Fund supports victims."])
    assert not misses_figure("What is the annual budget of the Fund?", ["It is $4 million."])
    assert misses_figure("How much was pledged to the Fund?", ["The Fund supports thousands of victims annually."])
    assert not misses_figure("How much was pledged?", ["Two million dollars were pledged."])
    # a meeting's number is no count of votes
    assert misses_figure("How many Member States voted in favour?", ["The 48th Meeting adopted the Declaration."])


def test_a_sentence_is_on_the_question_through_itself_or_its_evidence():
    q = "Which organization does panellist Colin Ward represent?"
    herrera = "Karin Herrera, Vice-President of Guatemala, underscored the need for social safety nets."
    ward = "Mr. Colin Ward, Engagement Lead of Marinus Analytics in UK and Europe, highlighted the dual role."
    assert off_topic(q, "Karin Herrera, Vice-President of Guatemala.", [herrera])
    assert not off_topic(q, "Marinus Analytics.", [ward])  # terse, but its evidence is about Colin Ward
    assert not off_topic(q, "Colin Ward represents Marinus Analytics.", [herrera])
    # stemmed: "criminalized" in the question meets "criminalize" in the evidence
    assert not off_topic("In what year was buying sex criminalized?", "1999.",
                         ["In 1999, Sweden became the first country to criminalize the purchase of sexual services."])
    assert not off_topic("What is it?", "Anything at all.", [])  # no content words to compare


def test_a_question_naming_what_no_cited_document_names_is_not_answered_by_it():
    """Asked about the Thai soldiers, a sentence from the trial of Australian soldiers is about
    something else; a name matches on its first four letters, and one name found is enough."""
    australian = "Tafenoquine prophylaxis in Australian soldiers deployed to East Timor. After returning home ..."
    thai = "Monthly tafenoquine prophylaxis for soldiers in Thailand."
    q = "What daily dose of primaquine did the Thai soldiers receive?"
    assert names_absent(q, [australian]) == ["Thai"]
    assert names_absent(q, [thai]) == [] and names_absent(q, [australian, thai]) == []
    assert names_absent("How did Iranian provinces fare?", ["Malaria in the Islamic Republic of Iran"]) == []
    assert names_absent("What share of children in Accra and Kumasi slept under a net?",
                        ["Bed net use in Dakar"]) == ["Accra", "Kumasi"]
    assert names_absent("Which drug was the regimen built on?", ["Anything at all"]) == []  # names nothing
    # acronyms name the topic, which another study shares: the place must be found
    belarus = "Drug-resistant TB in Belarus: MDR-TB among patients in Minsk."
    q = "Which fluoroquinolone was the Bangladesh MDR-TB regimen built on?"
    assert names_absent(q, [belarus]) == ["Bangladesh"]
    assert names_absent(q, ["The Bangladesh regimen, gatifloxacin-based"]) == []
    assert names_absent("What did UNODC's report on Bangladesh find?", ["UNODC's report"]) == ["Bangladesh"]
    assert names_absent("What did the UNODC report find on MDR-TB?", ["MDR-TB rose."]) == []  # acronyms only: one found
    # a part's question: the whole question, then the part on a line of its own; the capital that
    # begins the line names nothing ("Between" would be found in a survey of another country)
    from rag.answer.parts import part_question
    part = part_question(q, "Between which years were its patients enrolled?")
    assert names_absent(part, ["Between 2009 and 2010, patients in Minsk (Belarus) were enrolled."]) == ["Bangladesh"]


def test_a_question_picking_one_of_several_by_ordinal_is_not_answered_by_a_document_that_never_says_it():
    """Asked who moderated "the second panel", a record of a meeting with a single panel
    discussion ("The panel discussion was moderated by ...") is about another panel."""
    q = "Who moderated the second panel discussion on new technologies at the 2025 meeting?"
    single = "The panel discussion was moderated by Ms. A. Panellists addressed new technologies."
    assert names_absent(q, [single]) == ["the second panel"]
    assert names_absent(q, ["The first panel met in the morning. The second panel focused on technology."]) == []
    assert names_absent(q, ["The 2nd panel was moderated by Mr. B."]) == []  # digits say it too
    assert names_absent("What did the 3rd arm of the trial show?", ["In the third arm, relapse fell."]) == []
    assert names_absent("What did the third arm show?", ["Only two arms were compared."]) == ["the third arm"]
    # no ordinal that picks something out: "for the first time", "first-ever"
    assert names_absent("What happened for the first time in 2020?", ["A forum was held in 2020."]) == []
    assert names_absent("What first-ever event did UNODC host?", ["UNODC hosted a forum."]) == []
    assert names_absent("Which country was the first to ban it?", ["Sweden banned it in 1999."]) == []
    # a name not found is reported first; a name found still leaves the ordinal to be said
    assert names_absent("What did Kenya's second report find?", ["Uganda's second report"]) == ["Kenya's"]
    assert names_absent("What did Kenya's second report find?", ["Kenya's report found"]) == []  # no "the"
    assert names_absent("What did the second Kenya report find?", ["The Kenya report found"]) == ["the second kenya"]


def test_a_question_asking_about_a_year_is_not_answered_by_a_document_that_never_states_it():
    """Asked for a proportion "in 2015", a survey run from 2009 to 2010 answers for another time;
    a year inside a range the document writes is stated, and a number that is no asked-about
    year ("the 2000 participants", "the 2030 Agenda") is not checked."""
    survey = "Between November 2009 and December 2010, 156 new patients in Minsk were enrolled."
    q = "What proportion of new patients in Minsk had MDR-TB in 2015?"
    assert names_absent(q, [survey]) == ["2015"]
    assert names_absent("What proportion of new patients in Minsk had MDR-TB in 2010?", [survey]) == []
    assert names_absent("How many cases were notified in Birmingham in 1991?", ["Setting: Birmingham, 1989-93."]) == []
    assert names_absent("How many cases were there in 2001 and 2002?", ["Cases from 2000 to 2003 were counted."]) == []
    assert names_absent("How many cases were there in 2010?", ["Enrolled from Sept. 2009 to March 2011."]) == []
    assert names_absent("How many cases were there since 2019?", ["A rise of 25% since 2019."]) == []
    assert names_absent("How many cases were there in 2019?", ["It cost $2019 per patient in 20190 trials."]) == ["2019"]
    assert names_absent("How many of the 2000 participants agreed?", ["Of 1,800 participants, most agreed."]) == []
    assert names_absent("What does the 2030 Agenda say?", ["The Agenda for Sustainable Development says."]) == []
    # a name not found is reported first
    assert names_absent("What did Kenya report in 2015?", ["Uganda reported in 2014."]) == ["Kenya"]
    # a cited document's date states its year, though its text may not write it
    from rag.answer.cite import names_not_in
    from rag.types import Document
    note = Document("d1", "note.txt", "Note on victims", "Victims rose by a quarter this year.", "txt", date="2025-11-24")
    assert names_not_in("How many victims were detected in 2025?", ["d1"], {"d1": note}) == []
    assert names_not_in("How many victims were detected in 2024?", ["d1"], {"d1": note}) == ["2024"]


def test_names_match_at_word_starts():
    from rag.answer.relevance import named

    president = "H.E. Philemon Yang, President of the General Assembly, opened. He cited a 35% increase in victims."
    other = "The Representative of Tajikistan expressed concern. He noted a 25% rise in victims."
    assert named(["President"], president) == {"President"}
    assert not named(["President"], other)  # "expressed" holds "pres", but not at a word start
    assert named(["Thai"], "soldiers in Thailand") == {"Thai"}

def test_a_figure_given_to_another_group_of_a_list_is_not_supported():
    p = ("The survey ran for two years. Injury rates were 12% among 40 clerks, 58% among 77 welders, "
         "and 30% among 9 pilots. Most injuries were minor.")
    assert misbound("58% of the pilots were injured.", p)
    assert "58" in hard_failures("58% of the pilots were injured.", p)[0]
    assert misbound("58% of the welders were injured.", p) == []
    assert misbound("Injuries struck 12% of clerks and 58% of welders.", p) == []  # each figure has its own group
    assert misbound("58% were injured.", p) == []  # names no group: the score and the judge decide
    # the question's own figures are given, not claimed
    assert misbound("58% of the pilots were injured.", p, given="Were 58% of pilots injured?") == []


def test_list_binding_reads_bracketed_lists_and_skips_statistics_in_brackets():
    p = "Side effects were as common in both arms (aspirin, 4.1%; ibuprofen, 6.2%)."
    assert misbound("Side effects were reported by 6.2% of those taking aspirin.", p)
    assert misbound("Side effects were reported by 4.1% of those taking aspirin.", p) == []
    costs = ("Monthly costs [1 USD = 7.3 local units (GHS)] were GHS 10 [95% CI: 8 to 12] for farm-workers, "
             "GHS 14 (95% CI: 11 to 17) for workers, and GHS 9 (95% CI: 7 to 11) for miners (P = 0.01).")
    assert misbound("Miners paid GHS 10 a month.", costs)
    assert misbound("Farm-workers paid GHS 10 a month.", costs) == []
    # "farm-workers" is one word: "workers" alone is the second group's
    assert misbound("Workers paid GHS 10 a month.", costs)


def test_respectively_pairs_figures_and_groups_in_order():
    resp = "Also, 84%, 59% and 69% of users of tea, coffee and water respectively slept well."
    assert [set(figs) for figs, _ in list_elements(resp)] == [{"84"}, {"59"}, {"69"}]
    assert misbound("69% of tea drinkers slept well.", resp)
    assert misbound("69% of water drinkers slept well.", resp) == []
    before = "Sleep rates among tea, coffee and water drinkers were 84%, 59% and 69%, respectively."
    assert misbound("59% of tea drinkers slept well.", before) and misbound("59% of coffee drinkers slept well.", before) == []
    # as many groups as figures, or nothing is read
    uneven = "Also, 84%, 59% and 69% of users of tea and coffee respectively slept well."
    assert list_elements(uneven) == [] and misbound("69% of tea drinkers slept well.", uneven) == []


def test_a_figure_is_read_against_the_statement_it_repeats():
    p = ("The test found 66% of cases among children but only 23% of cases among adults. "
         "Of the adults sent home, 66% were febrile.")
    assert misbound("The test found 66% of cases among adults.", p)  # the finding is 23% for adults
    assert misbound("66% of the adults sent home were febrile.", p) == []


def test_list_binding_says_nothing_where_it_cannot_read_the_pairing():
    # a spaced thousands separator is one figure, not a list of two
    assert misbound("5, 446 travellers were included.", "From 1996 5, 446 travellers were included and 4,158 returned.") == []
    assert list_elements("Only 12 of the 40 clerks were injured.") == []
    # counts beside a share are mostly the sentence's setting, not groups: not read
    setting = "Of the 5346 patients included, 2602 (57.3%) had at least one side effect."
    assert misbound("57.3% of patients had adverse drug events.", setting) == []
    assert misbound("2602 patients had adverse drug events.", setting) == []


def test_a_figure_from_a_paragraph_that_never_names_the_claimed_speaker_is_misattributed():
    p = ("Dr. Alma Ruiz, head of the harbour authority, said arrivals had doubled. Cargo rose 40 per cent "
         "since 2015, she noted.\n\n"
         "Fees now cover 93 per cent of costs, she added.\n\n"
         "Mr. Ken Obi, speaking for the dock workers, asked for safer cranes.")
    assert misattributed("Ken Obi said cargo rose 40 per cent since 2015.", p)
    assert misattributed("Alma Ruiz said cargo rose 40 per cent since 2015.", p) == []
    # "she" refers back to the paragraph before: the 93 per cent is still Ruiz's
    assert misattributed("Dr. Ruiz said fees cover 93 per cent of costs.", p) == []
    assert misattributed("Mr. Obi said fees cover 93 per cent of costs.", p)
    # a name the document's title gives, or no name elsewhere in the passage: nothing to say
    assert misattributed("Mr. Obi said fees cover 93 per cent of costs.", p, title="Statement by Ken Obi") == []
    assert misattributed("Mr. Lee said cargo rose 40 per cent since 2015.", p) == []
    # a figure the question gives is its premise, not the claim's
    assert misattributed("Mr. Obi spoke after the 2015 figure was given.", p, given="What happened in 2015?") == []
    # one paragraph: who said what is not read across paragraphs that are not there
    assert misattributed("Mr. Obi said cargo rose 40 per cent.", p.replace("\n\n", " ")) == []
    assert "does not name Obi" in hard_failures("Ken Obi said cargo rose 40 per cent since 2015.", p)[0]


def test_a_claim_asserting_what_the_passage_only_denies_is_not_supported():
    p = "In 2004 the town banned the import - but not the export - of raw timber."
    assert denied("In 2004 the town banned the export of raw timber.", p)
    assert "not the export" in hard_failures("In 2004 the town banned the export of raw timber.", p)[0]
    assert denied("In 2004 the town banned the import of raw timber.", p) == []
    assert denied("The town banned timber imports but not exports.", p) == []  # the claim denies it too
    # a word the passage also uses without a denial is not denied
    assert denied("The export of timber rose.", p + " The export of timber rose in 2005.") == []
    assert denied("Staff were trained rather than dismissed.", "Staff were dismissed instead of trained.")


def test_a_claim_the_closest_passage_sentence_denies_is_not_supported():
    p = "Predictive values were computed for every sign. Fever and cough were not predictive of flu."
    assert "not predictive" in denied("Fever and cough were predictive of flu.", p)[0]
    assert denied("Predictive values were computed for fever.", p) == []  # said of the first sentence
    # a sentence using the word plainly that shares as much of the claim: nothing to go by
    assert denied("Fever and cough were predictive of flu.", p + " Fever and cough were predictive of flu in 2020.") == []


def test_a_claim_swapping_what_a_passage_sentence_contrasts_is_not_supported():
    p = "In the survey, older cats preferred fish and chicken, while young dogs preferred beef."
    assert crossed("Young dogs preferred fish and chicken, while older cats preferred beef.", p)
    assert crossed("Older cats preferred fish and chicken, whereas young dogs preferred beef.", p) == []
    assert crossed("Older cats and young dogs preferred fish, chicken and beef.", p) == []  # one clause: not read
    assert crossed("Young dogs preferred fish, but cats did not.", "Dogs and cats both preferred fish.") == []


def test_a_name_opening_the_sentence_must_be_in_the_passage():
    p = "The delegate of Chile said exports rose by 12 per cent."
    assert hard_failures("Peru's delegate said exports rose by 12 per cent.", p) == ["Peru not in the passage"]
    assert hard_failures("Chile's delegate said exports rose by 12 per cent.", p) == []
    assert hard_failures("IMF figures show exports rose by 12 per cent.", p) == ["IMF not in the passage"]
    assert hard_failures("Exports rose by 12 per cent, said the delegate.", p) == []  # an opening word, not a name
    assert lead_name("Its delegate spoke.") == "" and lead_name("UNODC’s report") == "UNODC"
    # a possessive name is the name: "Peru's" is Peru
    assert hard_failures("The delegate said Peru's exports rose by 12 per cent.", p.replace("Chile", "Peru")) == []


def test_a_claim_turning_round_who_acts_for_whom_is_not_supported():
    p = "Ms. Ana Lopez, deputy mayor, spoke on behalf of Mayor Tom Reed, who was abroad."
    assert swapped_behalf("Mayor Tom Reed spoke on behalf of Ana Lopez.", p)
    assert swapped_behalf("Ana Lopez spoke on behalf of Mayor Tom Reed.", p) == []
    assert swapped_behalf("Ana Lopez spoke for the mayor.", p) == []  # says nothing of on whose behalf
    assert swapped_behalf("Reed spoke on behalf of Lopez.", "Reed and Lopez spoke.") == []  # the passage does not say
    # a word in common is not the same party: every name the sentence gives must be the passage's
    p = "The Cook Islands' delegate, on behalf of the Pacific Islands group, spoke first."
    assert swapped_behalf("The Pacific group's delegate spoke on behalf of the Cook Islands.", p)
    assert swapped_behalf("The Cook Islands spoke on behalf of the Pacific Islands group.", p) == []



def test_an_abbreviation_the_passage_defines_stands_for_its_words():
    p = ("Patients had community-acquired pneumonia (CAP) or hospital-acquired pneumonia (HAP). "
         "Mortality was 12% with CAP and 31% with HAP.")
    assert abbreviations(p) == {"cap": "community-acquired pneumonia", "hap": "hospital-acquired pneumonia"}
    assert misbound("31% of patients with community-acquired pneumonia died.", p)
    assert misbound("31% of patients with hospital-acquired pneumonia died.", p) == []
    assert abbreviations("Costs (ZAR) were high (P = 0.01).") == {}  # no words before it spell it


def test_a_paragraph_opening_is_read_with_its_later_sentences():
    text = ("Ms. Ada Vos, Minister of Ports, opened the session. She praised the staff. "
            "Cargo rose 40 per cent, she noted.\n\nMr. Obi spoke next.")
    p = Passage(text, 0, len(text))
    opening_to_third = (0, text.index("noted.") + len("noted."))
    assert opening_to_third in p.windows
    assert all(e < text.index("Mr. Obi") for s, e in p.windows if s == 0)  # an opening reads its own paragraph


def test_withdrawn_sentences_are_flagged_in_place_or_moved_to_the_removed():
    from rag.answer.cite import withdraw
    from rag.types import AnswerSentence

    said = [AnswerSentence("A [1].", (1,), True, 0.9), AnswerSentence("B.", (), False, 0.1, "no source"),
            AnswerSentence("C [2].", (2,), True, 0.8)]
    kept, gone = withdraw(said, "not an answer", "flag")
    assert [(s.text, s.supported, s.citations, s.reason) for s in kept] == [
        ("A [1].", False, (), "not an answer"), ("B.", False, (), "no source"), ("C [2].", False, (), "not an answer")]
    assert gone == []
    kept, gone = withdraw(said, "not an answer")
    assert [s.text for s in kept] == ["B."] and [(s.text, s.citations, s.reason) for s in gone] == [
        ("A [1].", (), "not an answer"), ("C [2].", (), "not an answer")]


def test_a_figure_or_name_written_another_way_is_the_same():
    """A passage may spell out what the claim abbreviates, or write a figure in words: the same fact."""
    p = "Magnetic resonance imaging was done in one thousand patients; half of them were women."
    assert hard_failures("It was measured by MRI in 1,000 patients.", p) == []
    assert hard_failures("50% of the patients were women.", p) == []
    assert hard_failures("60% of the patients were women.", p) == ["number 60 not in the passage"]
    assert hard_failures("It was measured by CT in 1,000 patients.", p) == ["CT not in the passage"]
    assert hard_failures("2,500,000 doses were given.", "Some 2.5 million doses were given.") == []
    assert hard_failures("350 doses were given.", "Three hundred and fifty doses were given.") == []
    assert hard_failures("The WHO said so.", "The World Health Organization said so.") == []


def test_a_share_in_words_is_checked_against_the_shares_the_passage_states():
    """"More than two thirds" is true of 70% and "about a third" is not true of 45%; "one in 200"
    is 0.5%. A fraction that is no share of a group ("the second half of the day") is no figure."""
    p = "Of the 40 schools, 28 (70%) kept the scheme and 45% of the parents signed up; 0.5% of pupils opted out."
    assert hard_failures("More than two thirds of the schools kept the scheme.", p) == []
    assert hard_failures("About a third of the parents signed up.", p) == ["number About a third not in the passage"]
    assert hard_failures("Nearly half of the parents signed up.", p) == []
    assert hard_failures("Fewer than half of the parents signed up.", p) == []
    assert hard_failures("More than half of the parents signed up.", "45% of the parents signed up.") == [
        "number More than half not in the passage"]
    assert hard_failures("Roughly one in 200 pupils opted out.", p) == []
    assert hard_failures("Roughly one in 20 pupils opted out.", p) == ["number Roughly one in 20 not in the passage"]
    assert hard_failures("The second half of the day was free.", "The afternoon was free.") == []
    assert hard_failures("It took half an hour.", "It took thirty minutes.") == []
    # a change by a fraction is a share too; "by a third party" is none
    assert hard_failures("Sales rose by a quarter.", "Sales rose 25% in a year.") == []
    assert hard_failures("Sales rose by a quarter.", "Sales rose 40% in a year.") == ["number a quarter not in the passage"]
    assert hard_failures("It was sold by a third party.", "A reseller sold it.") == []


def test_the_judge_reads_a_share_or_a_figure_as_the_passage_writes_it():
    """The small judge compares the words of a figure, not its value: it reads the passage's own
    figure in place of the claim's words, once the relation has been checked."""
    from rag.answer.verify import numbers, restate_shares

    p = "Of the 40 schools, 28 (70%) kept the scheme; over 50% of the parents signed up."
    assert restate_shares("More than two thirds of the schools kept it.", p) == "70% of the schools kept it."
    assert restate_shares("More than half of the parents signed up.", p) == "More than 50% of the parents signed up."
    assert restate_shares("Fees were cut by half.", "Fees fell by 50%.") == "Fees were cut by 50%."
    assert restate_shares("About 20,000 cells were counted.", "counts reached 2 × 10(4) cells") == (
        "About 2 × 10(4) cells were counted.")
    assert {"20000", "0.003"} <= numbers("2 × 10(4) cells at 3 x 10^-3 mol")
    judge = _Recorder()
    verifier = EvidenceVerifier(None, judge=judge)
    verifier.resolve("More than two thirds of the schools kept it.", Passage(p, 0, len(p)),
                     Support(None, 0.6, 0, len(p)))
    assert judge.claims == ["70% of the schools kept it."]


def test_a_figure_given_in_another_unit_is_the_same():
    """"300 ms" is "0.3 seconds" and "64 KiB" is "65,536 bytes": the figures check converts units
    of one dimension, and the judge reads the passage's own quantity in the claim's place."""
    from rag.answer.verify import restate_shares

    p = "The timeout is one second and the buffer holds 64 KiB; a retry waits 300 ms."
    assert hard_failures("The timeout is 1,000 ms.", p) == []
    assert hard_failures("The buffer holds 65,536 bytes.", p) == []
    assert hard_failures("A retry waits 0.3 seconds.", p) == []
    assert hard_failures("A retry waits 3 seconds.", p) == ["number 3 not in the passage"]
    # another dimension is another quantity; the same figure without its unit must still be stated
    assert hard_failures("The buffer holds 1,000 metres.", p) == ["number 1000 not in the passage"]
    assert hard_failures("It waits 1,000 ms, then 1000 more.", p) == ["number 1000 not in the passage"]
    assert hard_failures("A block is 2 KB.", "A block is 2,048 bytes.") == []  # "KB" in either sense
    # the same number in another unit is another quantity
    assert hard_failures("A block is 2 KB.", "A block is 2 MB.") == ["number 2 KB not in the passage",
                                                                    "KB not in the passage"]
    assert hard_failures("A block is 2 KB.", "A block is 2.") == ["KB not in the passage"]
    assert hard_failures("It waits 30 seconds.", "It waits 30 minutes.") == ["number 30 seconds not in the passage"]
    assert hard_failures("Half a minute passes.", "30 seconds pass.") == []
    assert restate_shares("The timeout is 1,000 ms.", p) == "The timeout is one second."
    # a whole figure written with a decimal is that figure
    assert hard_failures("Values range up to 1.0.", "Set the maximum to 1.0 for values in [0:1].") == []


def test_a_share_is_read_against_the_sentence_it_is_about():
    """A share in words holds only for a share the sentence closest to the claim states, not
    for one another sentence of the passage gives something else."""
    p = "The pass rate of the evening classes was 42% (21 of 50 pupils). Of these, 18% sat the upper 50% of the papers."
    assert hard_failures("More than half of the evening classes' pupils passed.", p) == [
        "number More than half not in the passage"]
    assert hard_failures("Fewer than half of the evening classes' pupils passed.", p) == []


def test_a_word_the_passage_negates_by_its_prefix_is_denied():
    """"An insignificant trend" does not state "significantly higher"; "informed" is no negation of "formed"."""
    p = "There was an insignificant trend toward more falls in the treated group; the dose was unchanged."
    assert denied("The treated group had significantly more falls.", p) == ["the passage says “insignificant”"]
    assert denied("The dose changed.", p) == ["the passage says “unchanged”"]
    assert denied("The dose was unchanged.", p) == []
    assert denied("The effect was significant.", "The effect was non-significant.") == [
        "the passage says “non-significant”"]
    assert denied("The form was filed.", "They were informed that it was filed.") == []


def test_a_name_the_passage_gives_as_the_acronym_of_its_initials_is_there():
    """The claim may spell out what the passage abbreviates, small words skipped ("Office on
    Drugs and Crime" for "ODC"); other names must still be stated."""
    p = "The panel was chaired by the UNODC representative; CGI scripts run as nobody."
    assert hard_failures("The United Nations Office on Drugs and Crime chaired the panel.", p) == []
    assert hard_failures("Common Gateway Interface scripts run as nobody.", p) == []
    assert hard_failures("The United Nations Office on Drugs and Crime chaired the Geneva panel.", p) == [
        "Geneva not in the passage"]
    assert hard_failures("The United Nations Development Programme chaired the panel.", p) == [
        "United not in the passage", "Nations not in the passage", "Development not in the passage",
        "Programme not in the passage"]


def test_a_question_word_is_no_name():
    from rag.answer.relevance import asked_names

    assert asked_names("zipfile refuses a file from 1975. Why, and which argument lets me add it?") == []
    assert asked_names("Which Special Rapporteur spoke in Vienna?") == ["Special", "Rapporteur", "Vienna"]


def test_the_judge_reads_the_sentences_that_state_the_claims_figures_and_names(real_embedder):
    """A claim joining two statements of one paragraph is judged on both: the best-scoring window
    alone lacks one of its figures. Another paragraph is never joined in: its figures and names
    belong to another subject."""
    from rag.answer.verify import covering

    text = ("The plotter draws lines. It has few options. If no face is given, the plotter uses Courier. "
            "The size is measured in points. Without a size, the plotter uses 9 points."
            "\n\nThe Widget terminal uses 14 points.")
    judge = _Recorder()
    p = Passage(text, 0, len(text))
    claim = "The plotter uses Courier and 9 points."
    verifier = EvidenceVerifier(real_embedder, judge=judge)
    sup = verifier.resolve(claim, p, verifier.assess([claim], [p])[0][0])
    assert text[sup.start : sup.end] == text[text.index("If no") : text.index("\n")]
    assert judge.seen == [text[text.index("If no") : text.index("\n")]]
    # the names and figures of the next paragraph are not reached for
    first = (text.index("If no"), text.index(" The size"))
    assert covering("The Widget uses Courier.", p, first) == first
    assert covering("The plotter uses 14 points and Courier.", p, first) == first


def test_the_probability_judge_accepts_what_the_model_would_answer_yes_to():
    """By default the probability judge decides as the model's one-word verdict does: "yes" when
    it is the more probable reply. A stricter bar, fitted on the judge deciding alone, rejected
    paraphrases that answer, which the figure and name checks had already let through."""

    def judge(p):
        return ProbabilityJudge(ScriptedJudge(lambda _: p))

    assert judge(0.6).supports("claim", "evidence") is True
    assert judge(0.4).supports("claim", "evidence") is False
    assert judge(None).supports("claim", "evidence") is None
