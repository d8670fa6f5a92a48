import pytest

from modeling_stackmix_htr.text_rules import TEXT_RULES_NAMES, get_text_rules


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


def test_unknown_profile_names_the_choices():
    with pytest.raises(ValueError, match="unknown text rules 'klingon'.*bentham"):
        get_text_rules("klingon")
