import numpy as np
import pytest

from modeling_stackmix_htr.text_rules import TEXT_RULES_NAMES, SpellingRule, get_text_rules


@pytest.mark.parametrize("name", TEXT_RULES_NAMES)
def test_every_profile_collapses_whitespace_and_strips(name):
    rules = get_text_rules(name)
    assert rules.preprocess("  дом\tи \n\n 12  ") == "дом и 12"
    assert rules.postprocess(" дом  и\t12 ") == "дом и 12"
    assert rules.name == name


@pytest.mark.parametrize("name", ["none", "iam", "hkr", "saintgall"])
def test_whitespace_only_profiles_keep_every_character(name):
    text = "Sic & pt. a-b|c Ёж (x) ⊥ é"
    assert get_text_rules(name).preprocess(text) == text
    assert get_text_rules(name).postprocess(text) == text


def test_bentham_maps_accented_letters_and_drops_up_tack():
    rules = get_text_rules("bentham")
    assert rules.preprocess("é è ê ë à á â ä") == "e e e e a a a a"
    assert rules.preprocess("É È Ê Ë À Á Â Ä") == "E E E E A A A A"
    assert rules.preprocess("café⊥ au lait") == "cafe au lait"


def test_bentham_removes_spaces_before_punctuation_and_inside_brackets_and_quotes():
    rules = get_text_rules("bentham")
    assert rules.preprocess("yes , no . why ? so ! then : and ; end") == "yes, no. why? so! then: and; end"
    assert rules.preprocess("see ( x ) and [ y ]") == "see (x) and [y]"
    assert rules.preprocess('he said " x " and " more words " then') == 'he said "x" and "more words" then'


def test_bentham_postprocess_normalises_predictions_like_targets():
    rules = get_text_rules("bentham")
    prediction = 'a  café ( b ) , " c "'
    assert rules.postprocess(prediction) == rules.preprocess(prediction) == 'a cafe (b), "c"'


def test_peter_maps_latin_look_alikes_to_cyrillic_and_drops_signs():
    rules = get_text_rules("peter")
    # "окно" typed with Latin o and k; "сарех" entirely with Latin look-alikes.
    assert rules.preprocess("oкнo") == "окно"
    assert rules.preprocess("capex") == "сарех"
    assert rules.preprocess("u k") == "у к"
    assert rules.preprocess("бы⊕л ⊗ [дом] | его") == "был дом его"


def test_peter_postprocess_restores_latin_only_inside_latin_words():
    rules = get_text_rules("peter")
    target = rules.preprocess("Peter Majesty и окно")
    assert target != "Peter Majesty и окно"  # the look-alikes became Cyrillic
    assert rules.postprocess(target) == "Peter Majesty и окно"
    # A word made only of look-alikes is Russian: it stays Cyrillic.
    assert rules.postprocess("сарех") == "сарех"


def test_saint_gall_writes_plain_latin_in_the_manuscript_conventions():
    rules = get_text_rules("saintgall")
    assert rules.from_plain_text("Et etiam deus et homo") == "Et &iam deus & homo"  # the capital is spelled out
    assert rules.from_plain_text("itaque quoque. que atque") == "itaq. quoq. que atq."  # enclitic -que only
    assert get_text_rules("iam").from_plain_text("et itaque") == "et itaque"
    assert get_text_rules("iam").spelling_rules(["& et"]) == []


def test_saint_gall_unpunctuated_drops_the_marks_only_the_training_pages_have():
    rules = get_text_rules("saintgall_unpunctuated")
    assert rules.preprocess("r& amorem. sicuti itaq. de eo .") == "r& amorem sicuti itaq de eo"
    assert rules.postprocess("accidit. coepit . ille") == "accidit coepit ille"
    assert rules.from_plain_text(rules.preprocess("Itaque, etiam deus et homo.")) == "Itaq &iam deus & homo"
    # The training pages' "q." is the abbreviation without its mark: it counts as the written form.
    que, _ = rules.spelling_rules(["itaq. usq. atque", "deus"])
    assert que.rate("end") == pytest.approx(2 / 3)


def test_spelling_rule_measures_rates_per_position_and_applies_them():
    training = ["& dixit", "videlic& nasc&ur", "&iam &. credet", "poss&"]
    rule = SpellingRule("et", "&").fit(training)
    assert rule.rate("word") == 1.0  # "&" and "&." (punctuation after it is ignored)
    assert rule.rate("start") == 1.0
    assert rule.rate("middle") == 1.0
    assert rule.counts["end"] == {"&": 2, "et": 1} and rule.rate("end") == pytest.approx(2 / 3)
    rng = np.random.default_rng(0)
    assert rule.apply("et dixit etiam nascetur", rng) == "& dixit &iam nasc&ur"
    assert rule.apply("Et tamen", rng) == "Et tamen"  # only the lower-case form the scribe ligates
    ends = [rule.apply("credet", rng) for _ in range(600)]
    assert ends.count("cred&") / 600 == pytest.approx(2 / 3, abs=0.06)
    assert "end 67% (2/3)" in rule.describe()
    # Without a generator each occurrence takes its position's usual form.
    assert SpellingRule("et", "&").fit(["credet poss& videl&"]).apply("credet") == "cred&"
    assert SpellingRule("et", "&").fit(["credet possit credet"]).apply("credet") == "credet"


def test_fitted_spelling_follows_the_transcriptions_and_the_profile_where_they_are_silent():
    rules = get_text_rules("saintgall")
    # This hand writes "-que" in full twice and "q." once: the usual form is the full one.
    fitted = rules.spelling_rules(["itaque usq. atque", "deus"])
    que, et = fitted
    assert que.rate("end") == pytest.approx(1 / 3) and "unseen" in et.describe()
    assert rules.from_plain_text("itaque etiam", fitted) == "itaque &iam"  # "et" unseen: the profile's rule
    assert rules.from_plain_text("itaque etiam") == "itaq. &iam"
    # The written form's full stop absorbs the one after it, and a word "que" is left alone.
    assert rules.from_plain_text("atque. que,") == "atq. que,"
    with pytest.raises(ValueError, match="unknown position.*'inside'"):
        SpellingRule("que", "q.", ("inside",))


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="unknown text rules 'klingon'.*bentham"):
        get_text_rules("klingon")
