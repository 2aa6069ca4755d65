"""Redaction of personal data in Chinese and English free text (shared/redaction.py): what each rule
takes, and the everyday text of a complaint it must leave alone."""
from __future__ import annotations

import pytest

from shared.redaction import Known, cn_id_valid, luhn_valid, name_forms, redact, redact_counting, redact_tree

PERSON = Known.of(name="王秀英", email="wang.xiuying@example.com", phone="+86 139 1234 5678", member_id="VIP-778899")


@pytest.mark.parametrize("text, expected", [
    # emails, including the full-width at sign typed on a Chinese keyboard
    ("write to li.wei+orders@mail.example.co.uk today", "write to [email] today"),
    ("邮箱：zhang_san@163.com，谢谢", "邮箱：[email]，谢谢"),
    ("邮箱 zhangsan＠qq.com", "邮箱 [email]"),
    # Chinese mobiles, with and without the country code, spaced or dashed, full-width digits
    ("电话13912345678", "电话[phone]"),
    ("电话 139 1234 5678 或 139-1234-5678", "电话 [phone] 或 [phone]"),
    ("call +86 139 1234 5678 or 0086-13912345678", "call [phone] or [phone]"),
    ("手机１３９１２３４５６７８", "手机[phone]"),
    # Chinese landlines with area codes and extensions
    ("座机 021-62345678 转 123", "座机 [phone]"),
    ("(0755) 2678 1234", "[phone]"),
    # international and North American numbers
    ("ring +44 20 7946 0958 after six", "ring [phone] after six"),
    ("call (555) 123-4567 or 555.123.4567", "call [phone] or [phone]"),
    # Chinese resident ID numbers with a valid check character
    ("身份证号：11010519491231002X", "身份证号：[ID number]"),
    ("my id 11010519491231002x ok", "my id [ID number] ok"),
    ("身份证 110105 19491231 002X", "身份证 [ID number]"),
    # a number told as an ID or passport number, even without a check character
    ("身份证号码是 440301199001011235", "身份证号码是 [ID number]"),
    ("passport no. E12345678, please", "passport no. [ID number], please"),
    ("护照号 G1234567", "护照号 [ID number]"),
    ("my passport is EA1234567.", "my passport is [ID number]."),
    # US social security numbers
    ("SSN 123-45-6789", "SSN [ID number]"),
    ("social security number: 123456789", "social security number: [ID number]"),
    # card numbers passing the Luhn check (13 to 19 digits)
    ("card 4111 1111 1111 1111 was charged", "card [card number] was charged"),
    ("卡号 6222-0202-0000-0000-006 被扣款", "卡号 [card number] 被扣款"),
    ("amex 378282246310005", "amex [card number]"),
    # Chinese addresses: administrative units, roads and numbers, estates and rooms
    ("寄到上海市浦东新区世纪大道100号5楼502室，谢谢", "寄到[address]，谢谢"),
    ("我住在杭州市西湖区文三路90号", "我住在[address]"),
    ("收货地址：广东省深圳市南山区科技园南区高新南一道6号", "收货地址：[address]"),
    ("地址北京市朝阳区建国路88号", "地址[address]"),
    ("阳光小区3栋2单元501室", "[address]"),
    ("中山路88号", "[address]"),
    # English street addresses and UK postcodes
    ("I live at 221B Baker Street, London NW1 6XE.", "I live at [address]."),
    ("send it to Flat 3, 12 Station Road please", "send it to [address] please"),
    ("1600 Pennsylvania Avenue NW, Washington, DC 20500", "[address]"),
    ("postcode SW1A 1AA", "postcode [address]"),
])
def test_each_rule_takes_what_it_is_for(text, expected):
    assert redact(text) == expected


@pytest.mark.parametrize("text", [
    # dates, times, money, quantities
    "我在2024-07-01 12:30买的，价格19.99元，3月5号收到，买了2袋。",
    "Bought on 2024-07-01 at 12:30 for $19.99; it took 5 days and 3 hours.",
    # product codes, batches, orders, complaint numbers
    "批次B2411，SKU DUMP-1KG，订单SO-1001，投诉号CK7M4QX9TR。",
    "Batch B2024-07, SKU EK-200, order SO-1001, complaint C2FGHBB2VA.",
    # everyday Chinese words with 路, 街, 道, 市, 区 in them
    "饺子味道不对，向您道歉，我知道了。一路上都很冷，逛街时买的。",
    "在超市买的，这个地区的快递很慢，城市里都买得到。",
    # English words around numbers and street-like words
    "I waited 3 hours on the main road and 2 days for the court.",
    # a long number that is neither a valid card nor an ID
    "tracking 1234567890123456 from the courier",
    # 18 digits with a wrong check character and no ID word before it
    "参考号 110105194912310021",
])
def test_everyday_complaint_text_is_left_alone(text):
    assert redact(text) == text


def test_what_is_known_about_the_person_goes_in_any_form():
    text = ("王秀英女士（秀英）来电，王女士说会员号VIP-778899，手机 139-1234-5678，"
            "邮箱 Wang.Xiuying@Example.com。王先生是她丈夫。")
    assert redact(text, PERSON) == ("[name]女士（[name]）来电，[name]说会员号[member id]，手机 [phone]，"
                                    "邮箱 [email]。[name]是她丈夫。")


def test_an_english_name_goes_word_by_word_but_not_inside_other_words():
    known = Known.of(name="Ingrid Halvorsen")
    assert redact("Dear Ingrid Halvorsen, thanks. Ms HALVORSEN agreed; Ingrid's parcel.", known) == \
        "Dear [name], thanks. Ms [name] agreed; [name]'s parcel."
    assert redact("Ingridient lists", known) == "Ingridient lists"


def test_a_phone_is_known_by_its_last_digits_in_any_spacing():
    known = Known.of(phone="+8613912345678")
    assert redact("打 (139) 1234-5678 或 86 139 1234 5678", known) == "打 [phone] 或 [phone]"


def test_overlapping_finds_become_one_label_and_are_counted():
    text, counts = redact_counting("联系 王秀英 wang.xiuying@example.com, 13912345678", PERSON)
    assert text == "联系 [name] [email], [phone]"
    assert counts == {"name": 1, "email": 1, "phone": 1}


def test_nested_values_are_redacted_and_keys_kept():
    value = {"explanation": "called 13912345678", "terms": ["王秀英", "quality"], "score": 0.9, "none": None}
    assert redact_tree(value, PERSON) == {"explanation": "called [phone]", "terms": ["[name]", "quality"],
                                          "score": 0.9, "none": None}
    assert redact(None) is None and redact("") == ""


def test_name_forms_in_chinese_and_english():
    assert name_forms("欧阳娜娜")[:3] == ["欧阳娜娜", "娜娜", "欧阳先生"]
    assert "王女士" in name_forms("王秀英") and "秀英" in name_forms("王秀英") and "英" not in name_forms("王秀英")
    assert name_forms("王芳")[:1] == ["王芳"] and "芳" not in name_forms("王芳")  # one character alone is no name
    assert name_forms("Jean-Luc  Picard") == ["Jean-Luc Picard", "Jean", "Luc", "Picard"]
    assert "约翰" in name_forms("约翰·史密斯") and "史密斯" in name_forms("约翰·史密斯")


def test_the_checks_behind_cards_and_id_numbers():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert cn_id_valid("11010519491231002X") and cn_id_valid("11010519491231002x")
    assert not cn_id_valid("110105194912310021") and not cn_id_valid("1101051949123100")
