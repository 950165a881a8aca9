//! One test per shape of secret and per kind of text that must stay.

use super::*;

/// Asserts `text` masks to `want` and reports a secret.
fn masks(text: &str, want: &str) {
    let (got, found) = mask_secrets(text);
    assert_eq!(got, want, "masking {text:?}");
    assert!(found, "{text:?} should report a secret");
    let (again, found_again) = mask_secrets(&got);
    assert_eq!(again, got, "masking {got:?} again changed it");
    assert!(!found_again, "{got:?} reported a secret again");
}

/// Asserts `text` is left as it is.
fn keeps(text: &str) {
    let (got, found) = mask_secrets(text);
    assert_eq!(got, text);
    assert!(!found, "{text:?} should report nothing");
}

#[test]
fn codes_after_a_code_word() {
    masks("OTP 7391", "OTP [code hidden]");
    masks(
        "my code is 482913 but it says invalid",
        "my code is [code hidden] but it says invalid",
    );
    masks("pin: 0420 didnt work", "pin: [code hidden] didnt work");
    masks(
        "the verification code i got was 58213407",
        "the verification code i got was [code hidden]",
    );
    masks("code 12 34", "code [code hidden]");
    masks(
        "5520 is the code it sent",
        "[code hidden] is the code it sent",
    );
}

#[test]
fn six_digit_codes_alone_or_evenly_spaced() {
    masks("got 123 456 by sms", "got [code hidden] by sms");
    masks("it's 12 34 56 right", "it's [code hidden] right");
    masks("482-913", "[code hidden]");
    masks("typed 904417 twice", "typed [code hidden] twice");
    masks("1 2 3 4 5 6", "[code hidden]");
}

#[test]
fn card_numbers_that_pass_luhn() {
    masks(
        "card 4111 1111 1111 1111 was charged",
        "card [card number hidden] was charged",
    );
    masks("4111-1111-1111-1111", "[card number hidden]");
    masks(
        "amex 378282246310005 pls refund",
        "amex [card number hidden] pls refund",
    );
    // Fails Luhn: an order or reference number, not a card.
    keeps("ref 4111 1111 1111 1112");
    keeps("number 4111111111111112");
}

#[test]
fn passwords_after_a_cue() {
    masks(
        "My password is Hunter2! please check",
        "My password is [password hidden] please check",
    );
    masks("password: s3cr3t", "password: [password hidden]");
    masks("pwd=sunshine", "pwd=[password hidden]");
    masks("my password's Blue42sky", "my password's [password hidden]");
    masks(
        "my new password should be Tr0ub4dor&3 but it fails",
        "my new password should be [password hidden] but it fails",
    );
    masks(
        "the pass will be letmein",
        "the pass will be [password hidden]",
    );
    masks(
        "i changed my password to k9-Lamp-77.",
        "i changed my password to [password hidden].",
    );
    masks(
        "Hunter22 is my password",
        "[password hidden] is my password",
    );
    masks("password Xk9pQ2", "password [password hidden]");
}

#[test]
fn quoted_passwords_keep_their_spaces_inside_the_mask() {
    masks(
        "my password is \"purple monkey dishwasher\" and it says wrong",
        "my password is \"[password hidden]\" and it says wrong",
    );
    masks("password: 'my dog rex'", "password: '[password hidden]'");
    masks("pass was “open sesame 9”", "pass was “[password hidden]”");
}

#[test]
fn ordinary_words_after_a_cue_are_not_passwords() {
    for text in [
        "I forgot my password",
        "password reset link never arrives",
        "my password is not working",
        "the password was wrong again",
        "which password should i use there",
        "my password is the same as before",
        "the password should be fine, which button?",
        "new password will be accepted?",
        "boarding pass is in the app",
        "password is correct 100%",
        "Use a password that is hard to guess",
        "my password is sunshine",
    ] {
        keeps(text);
    }
}

#[test]
fn numbers_that_are_not_secrets() {
    for text in [
        "order 482913 never arrived",
        "my order number is 4829130571",
        "order #55120437",
        "ticket #12",
        "#104",
        "ticket 104233 is still open",
        "call me on +44 20 7946 0958",
        "my phone is 9876543210",
        "imei 356938035643809",
        "IMEI: 35 693803 564380 9",
        "error 70016",
        "error code 100001 when I log in",
        "since 2019",
        "on 2024-03-15 at 10:30",
        "15/03/2024",
        "it cost $129999",
        "paid 149999 rs",
        "MIUI 14.0.6.0 and HyperOS 1.0.3",
        "redmi note 12 pro 5g",
        "model 2201117TG",
        "128GB version",
        "5000mAh battery",
        "step 3 of 5",
        "it was 1,299,000 dong",
        "at 2:30am",
        "",
    ] {
        keeps(text);
    }
}

#[test]
fn masks_are_never_masked_again() {
    for text in [
        "[password hidden] hidden]",
        "my password is [password hidden]",
        "password: [password hidden]",
        "code [code hidden] and [card number hidden]",
        "\"[password hidden]\"",
    ] {
        keeps(text);
    }
}

#[test]
fn several_secrets_in_one_line() {
    masks(
        "password is Abc12345 and code 482913, card 4111111111111111",
        "password is [password hidden] and code [code hidden], card [card number hidden]",
    );
}

#[test]
fn bot_like_instructions_stay() {
    for text in [
        "Set a new password instead of guessing: at least 8 characters.",
        "Enter the 6-digit code from the SMS within 10 minutes.",
        "Never share your verification code with anyone, not even us.",
        "Go to Settings > Mi Account > Password & security.",
    ] {
        keeps(text);
    }
}

#[test]
fn codes_in_links_are_masked_and_ids_are_not() {
    masks(
        "https://cdn.example.com/a/123456789012345678/482913.png",
        "https://cdn.example.com/a/123456789012345678/[code hidden].png",
    );
    masks(
        "account.xiaomi.com/verify?code=5531",
        "account.xiaomi.com/verify?code=[code hidden]",
    );
    keeps("see account.xiaomi.com and ann.k92@mail.com");
}

#[test]
fn natural_forms_of_sharing_a_password() {
    masks(
        "\"Blue Moon 77\" is my password",
        "\"[password hidden]\" is my password",
    );
    masks(
        "my password \"four words in quotes\" fails",
        "my password \"[password hidden]\" fails",
    );
    masks(
        "mi contraseña es Gatito99",
        "mi contraseña es [password hidden]",
    );
    // Shaped like a password, no password word: symbols, digits and lower case.
    masks(
        "i keep typing Tiger#2020 and nothing",
        "i keep typing [password hidden] and nothing",
    );
    // In a message about passwords: letters with digits, each of several.
    masks(
        "password is either rover77 or Rover77",
        "password is either [password hidden] or [password hidden]",
    );
    keeps("my miui14 phone asks for the password");
    keeps("username ann_92 and I forgot the password");
    keeps("got ACCOUNT_LOCKED after a few passwords");
}

#[test]
fn recovery_codes_and_near_code_words() {
    masks("backup code: 7hq2-k9dm", "backup code: [code hidden]");
    masks(
        "they sent 5529 to my email",
        "they sent [code hidden] to my email",
    );
    keeps("pin code 400001 is my area");
    keeps("the sms sender was 1065");
    keeps("it shows code 70016");
    keeps("my number is 07700 900123");
}

#[test]
fn secrets_are_masked_in_every_language_the_bot_speaks() {
    for (text, secret) in [
        ("mi contraseña es Sol2024! y no entra", "Sol2024!"),
        ("minha senha é Praia#88 e diz que está errada", "Praia#88"),
        ("мой пароль Zima_2023 а пишет неверный", "Zima_2023"),
        ("kata sandi saya Mawar99x tapi ditolak", "Mawar99x"),
        (
            "mera password Barish@2024 hai phir bhi galat",
            "Barish@2024",
        ),
        ("मेरा पासवर्ड Neel#4455 है", "Neel#4455"),
        ("كلمة السر عندي Qamar_2024 وبيقول غلط", "Qamar_2024"),
        ("kode OTP saya 582913 tapi salah", "582913"),
        ("код 4471 не подходит", "4471"),
        ("الرمز ٤٨٢٩١٣ غير صحيح", "482913"),
        ("ओटीपी ४८२९ आया था", "4829"),
    ] {
        let (masked, found) = mask_secrets(text);
        assert!(found, "{text}: nothing found");
        assert!(
            !masked.contains(secret),
            "{text}: kept {secret} in {masked}"
        );
    }
    // Digits in other scripts that are not secrets stay, as ASCII digits.
    let (kept, found) = mask_secrets("طلب رقم ٢٠٢٤ وصل");
    assert!(!found, "{kept}");
}
