"""Log in over HTTP as each demo user and check each lands on their role's page.

Usage: smoke.py BASE_URL DEMO_OUTPUT (the demo command's output, which lists the passwords).
"""

import http.cookiejar
import re
import sys
import urllib.parse
import urllib.request

EXPECTED_LANDING = {
    "lead": "/p/pool-boiling/",
    "reviewer": "/p/pool-boiling/review/",
    "annotator": "/p/pool-boiling/tasks/",
}


def login(base: str, username: str, password: str) -> tuple[str, str]:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/login/").read().decode()
    assert "Log in to MaskQC" in page, "login page does not render"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode(
        {"username": username, "password": password, "csrfmiddlewaretoken": token}
    ).encode()
    request = urllib.request.Request(
        f"{base}/login/", data=body, headers={"Referer": f"{base}/login/"}
    )
    response = opener.open(request)
    return urllib.parse.urlparse(response.geturl()).path, response.read().decode()


def main() -> None:
    base = sys.argv[1]
    with open(sys.argv[2]) as output:
        demo_output = output.read()
    users = dict(re.findall(r"^\s+(\S+)\s+(?:\S+)\s+password: (\S+)$", demo_output, re.M))
    roles = dict(re.findall(r"^\s+(\S+)\s+(\S+)\s+password: \S+$", demo_output, re.M))
    assert users, "the demo printed no users"
    for username, password in users.items():
        path, page = login(base, username, password)
        expected = EXPECTED_LANDING[roles[username]]
        assert path == expected, f"{username} landed on {path}, expected {expected}"
        assert username in page
        print(f"smoke: {username} ({roles[username]}) logged in and landed on {path}")


if __name__ == "__main__":
    main()
