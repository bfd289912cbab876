"""The stories of the sample news site: the seed article (real text from intisari-online.com,
``data/seed-article.txt``) and the articles its "Baca Juga" lines name, with texts of our own.

Each story: ``id``, ``slug``, ``section``, ``title``, ``author``, ``published`` (WIB),
``paragraphs``, ``inline`` ({paragraph index: [story ids]} — "Baca Juga" lines placed after
that paragraph), ``block`` (story ids of the "Artikel Terkait" list), ``pages`` (split into
that many pages; ``page_all``: whether a "Lihat Semua" (``?page=all``) link is offered).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources

WIB = timezone(timedelta(hours=7), "WIB")


@dataclass
class Story:
    id: str
    slug: str
    section: str
    title: str
    author: str
    published: datetime
    paragraphs: list[str]
    inline: dict[int, list[str]] = field(default_factory=dict)
    block: list[str] = field(default_factory=list)
    pages: int = 1
    page_all: bool = True
    # listed on section pages, the home page, the sitemap and the feed
    listed: bool = True
    caption: str | None = None
    json_ld: bool = True

    @property
    def path(self) -> str:
        return f"/read/{self.id}/{self.slug}"


def _seed() -> tuple[str, str, str, list[str], list[str]]:
    """Title, author, caption, body paragraphs and the Baca Juga titles of the seed article."""
    text = resources.files("arsip.sample_site").joinpath("data/seed-article.txt").read_text(
        encoding="utf-8"
    )
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    title, author, _penulis, caption = blocks[:4]
    paragraphs: list[str] = []
    baca: list[str] = []
    for b in blocks[4:]:
        if b.startswith("Baca Juga:"):
            baca.append(b[len("Baca Juga:"):].strip())
        elif b == "Artikel Terkait":
            break
        else:
            paragraphs.append(b)
    return title, author, caption, paragraphs, baca


def stories() -> list[Story]:
    title, author, caption, paras, baca = _seed()
    # the seed's Baca Juga titles, in the order they appear
    alien, rusia_serang, kazakh_presiden, ukraina_nazi, china_energi = baca
    seed = Story(
        id="033112345",
        slug="rusia-marah-besar-sampai-ungkit-intervensi-as-di-irak",
        section="histori",
        title=title,
        author=author,
        published=datetime(2022, 1, 8, 10, 15, tzinfo=WIB),
        paragraphs=paras,
        # placed as in the seed: after paragraph 4, after 8 (two), after 12 (two)
        inline={3: ["033100001"], 7: ["033100002", "033100003"], 13: ["033100004", "033100005"]},
        block=["033100006", "033100007", "033100003"],
        caption=caption,
    )
    return [
        seed,
        Story(
            id="033100001",
            slug="disebut-sebagai-tempat-persembunyian-alien-majalah-militer-blak-blakan",
            section="histori",
            title=alien,
            author="Khaerunisa",
            published=datetime(2022, 1, 6, 19, 30, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Area 51 di gurun Nevada sudah puluhan tahun menjadi bahan cerita tentang alien dan piring terbang.",
                "Pemerintah Amerika Serikat baru mengakui keberadaan pangkalan rahasia itu pada tahun 2013, setelah dokumen CIA dibuka untuk umum.",
                "Sebuah majalah militer kini merinci apa saja yang diuji di sana, mulai dari pesawat mata-mata U-2 hingga pesawat siluman F-117.",
                "Menurut majalah tersebut, cerita tentang makhluk luar angkasa justru membantu menutupi uji terbang pesawat yang belum boleh diketahui publik.",
                "Penduduk kota kecil Rachel di dekat pangkalan itu bahkan membuka restoran bertema alien untuk menarik wisatawan.",
            ],
            inline={2: ["033100008"]},
        ),
        Story(
            id="033100002",
            slug="rusia-mengaku-bisa-lancarkan-serangan-dari-tempat-paling-tak-terduga",
            section="histori",
            title=rusia_serang,
            author="Tatik Ariyani",
            published=datetime(2022, 1, 5, 14, 0, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Angkatan Laut Rusia memamerkan kapal selam nuklir yang disebut mampu menembakkan rudal dari bawah lapisan es Arktik.",
                "Kapal selam kelas Borei itu dirancang untuk muncul menembus es setebal satu meter sebelum meluncurkan senjatanya.",
                "Para analis Barat menilai kemampuan tersebut membuat kapal selam Rusia sulit dilacak oleh satelit maupun pesawat patroli.",
                "Moskow menyebut latihan di kutub utara itu sebagai bagian dari rencana pertahanan rutin, bukan ancaman bagi negara lain.",
            ],
        ),
        Story(
            id="033100003",
            slug="perintah-mengejutkan-presiden-kazakhstan-di-tengah-gelombang-protes",
            section="histori",
            title=kazakh_presiden,
            author="Afif Khoirul M",
            published=datetime(2022, 1, 7, 21, 45, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Presiden Kazakhstan Kassym-Jomart Tokayev memberi izin kepada aparat keamanan untuk menembak tanpa peringatan.",
                "Perintah itu keluar setelah kerusuhan di Almaty menewaskan puluhan orang dan membakar gedung balai kota.",
                "Tokayev menyebut para perusuh sebagai teroris yang dilatih dari luar negeri, meski tidak memberikan bukti apa pun.",
                "Kelompok hak asasi manusia memperingatkan bahwa perintah tersebut bisa berujung pada pembantaian warga sipil.",
                "Sementara itu pasukan dari negara-negara anggota CSTO mulai tiba di bandara Almaty untuk menjaga fasilitas penting.",
            ],
        ),
        Story(
            id="033100004",
            slug="rusia-mulai-bertindak-ukraina-bakal-kena-hukuman-berat",
            section="internasional",
            title=ukraina_nazi,
            author="Muflika Nur Fuaddah",
            published=datetime(2022, 1, 4, 9, 20, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Ketegangan antara Moskow dan Kyiv kembali memanas menjelang pertemuan para diplomat di Jenewa.",
                "Pejabat Rusia menuduh pemerintah Ukraina membiarkan kelompok sayap kanan memakai simbol-simbol era Perang Dunia Kedua.",
                "Tuduhan itu dibantah keras oleh Kyiv, yang menyebutnya sebagai dalih untuk membenarkan penumpukan pasukan di perbatasan.",
                "Negara-negara Eropa meminta kedua pihak menahan diri dan kembali ke meja perundingan.",
            ],
        ),
        Story(
            id="033100005",
            slug="china-ternyata-diam-diam-masih-butuh-sumber-energi-dari-amerika-dan-australia",
            section="internasional",
            title=china_energi,
            author="Ade S",
            published=datetime(2022, 1, 3, 16, 5, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Larangan tidak resmi China atas batu bara Australia ternyata tidak bertahan lama.",
                "Pemadaman listrik di beberapa provinsi pada musim dingin memaksa Beijing kembali membeli batu bara dan gas alam cair dari luar negeri.",
                "Data bea cukai menunjukkan kapal-kapal pengangkut batu bara asal Australia kembali bersandar di pelabuhan China akhir tahun lalu.",
                "Pengamat menilai perang dagang itu lebih banyak merugikan industri dalam negeri China daripada para pesaingnya.",
            ],
        ),
        Story(
            id="033100006",
            slug="sejarah-uni-soviet-runtuh-dan-lahirnya-negara-negara-baru",
            section="histori",
            title="Sejarah Runtuhnya Uni Soviet dan Lahirnya 15 Negara Baru, Kazakhstan Paling Akhir Merdeka",
            author="Moh. Habib Asyhad",
            published=datetime(2021, 12, 26, 8, 0, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Tiga puluh tahun lalu, bendera palu arit diturunkan untuk terakhir kalinya dari atap Kremlin.",
                "Runtuhnya Uni Soviet melahirkan lima belas negara merdeka, dari Estonia di utara hingga Tajikistan di selatan.",
                "Kazakhstan menjadi republik terakhir yang menyatakan kemerdekaannya, tepat sepuluh hari sebelum Uni Soviet resmi bubar.",
                "Nursultan Nazarbayev kemudian memimpin negara itu selama hampir tiga dekade.",
            ],
            pages=3,
            page_all=True,
        ),
        Story(
            id="033100007",
            slug="mengenal-csto-aliansi-militer-bekas-negara-soviet",
            section="internasional",
            title="Mengenal CSTO, Aliansi Militer Bekas Negara Soviet yang Kirim Pasukan ke Kazakhstan",
            author="Afif Khoirul M",
            published=datetime(2022, 1, 7, 11, 30, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Organisasi Perjanjian Keamanan Kolektif atau CSTO dibentuk pada tahun 2002 oleh enam negara bekas Uni Soviet.",
                "Anggotanya adalah Rusia, Belarus, Armenia, Kazakhstan, Kirgistan, dan Tajikistan.",
                "Pengiriman pasukan ke Kazakhstan pada Januari 2022 adalah pertama kalinya aliansi itu menjalankan pasal pertahanan bersama.",
                "Para pengamat menyebut CSTO sebagai alat Moskow untuk menjaga pengaruhnya di Asia Tengah.",
                "Armenia pernah meminta bantuan serupa pada tahun 2021, tetapi permintaan itu ditolak oleh para anggota lain.",
            ],
            pages=2,
            page_all=False,
        ),
        Story(
            id="033100008",
            slug="kisah-roswell-1947-awal-mula-cerita-piring-terbang",
            section="histori",
            title="Kisah Roswell 1947, Awal Mula Cerita Piring Terbang yang Tak Pernah Padam",
            author="Khaerunisa",
            published=datetime(2021, 12, 20, 13, 10, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Pada musim panas 1947, seorang peternak di New Mexico menemukan puing-puing aneh di ladangnya.",
                "Pangkalan udara Roswell sempat mengumumkan bahwa mereka menemukan sebuah piring terbang, sebelum meralatnya menjadi balon cuaca.",
                "Puluhan tahun kemudian militer Amerika mengakui bahwa puing itu berasal dari Proyek Mogul, balon mata-mata untuk mendeteksi uji nuklir Soviet.",
                "Meski begitu, kota Roswell terus merayakan festival UFO setiap tahun dan menarik ribuan pengunjung.",
            ],
            # reachable only through a Baca Juga line of a Baca Juga article: depth 2
            listed=False,
            json_ld=False,
        ),
        Story(
            id="033100009",
            slug="harga-minyak-dunia-naik-setelah-kerusuhan-kazakhstan",
            section="internasional",
            title="Harga Minyak Dunia Naik Setelah Kerusuhan di Kazakhstan Ganggu Produksi Ladang Tengiz",
            author="Tatik Ariyani",
            published=datetime(2022, 1, 8, 7, 0, tzinfo=WIB),
            paragraphs=[
                "Intisari-Online.com - Harga minyak mentah Brent naik lebih dari satu persen setelah produksi di ladang Tengiz terganggu.",
                "Ladang yang dikelola perusahaan patungan dengan Chevron itu memangkas produksi karena para pekerja kontraktor ikut berunjuk rasa.",
                "Kazakhstan adalah produsen minyak terbesar kesembilan di dunia dan anggota kelompok OPEC+.",
                "Para pedagang khawatir gangguan pasokan akan berlanjut jika kerusuhan tidak segera mereda.",
            ],
        ),
    ]


# -- dedup fixtures (``SampleSite(dedup=True)``) -----------------------------------------
# Stories of the original site reachable only through URL variants: a link with tracking
# parameters, an AMP link, a print view, an old URL that redirects.
def dedup_stories() -> list[Story]:
    def story(id_: str, slug: str, title: str, paras: list[str], day: int) -> Story:
        return Story(id=id_, slug=slug, section="histori", title=title, author="Ade S",
                     published=datetime(2022, 1, day, 9, 0, tzinfo=WIB), paragraphs=paras,
                     listed=False)

    return [
        story("033200001", "museum-nasional-buka-kembali-galeri-prasejarah",
              "Museum Nasional Buka Kembali Galeri Prasejarah Setelah Dua Tahun Ditutup", [
                  "Intisari-Online.com - Museum Nasional di Jakarta membuka kembali galeri prasejarah yang ditutup selama dua tahun karena pandemi.",
                  "Pengunjung kini bisa melihat lagi fosil manusia purba dari Sangiran dan alat batu dari Pacitan yang dipamerkan dengan tata cahaya baru.",
                  "Pengelola membatasi jumlah pengunjung menjadi dua ratus orang setiap jam dan mewajibkan pemesanan tiket secara daring.",
                  "Kurator museum berharap pelajar kembali datang berombongan seperti sebelum pandemi melanda.",
              ], 2),
        story("033200002", "jejak-kapal-karam-voc-di-perairan-belitung",
              "Jejak Kapal Karam VOC di Perairan Belitung yang Menyimpan Ribuan Keramik", [
                  "Intisari-Online.com - Para penyelam menemukan kembali bangkai kapal dagang VOC di perairan Belitung yang tenggelam pada abad ke-18.",
                  "Di lambung kapal itu tersimpan ribuan keramik Tiongkok yang sebagian besar masih utuh meski terendam ratusan tahun.",
                  "Arkeolog bawah air menyebut kapal tersebut kemungkinan karam karena badai saat berlayar dari Batavia menuju Eropa.",
                  "Pemerintah daerah berencana menjadikan lokasi itu kawasan wisata selam yang dilindungi.",
              ], 1),
        story("033200003", "kisah-jalur-rempah-yang-mengubah-peta-dunia",
              "Kisah Jalur Rempah yang Mengubah Peta Dunia dan Mengundang Bangsa Eropa", [
                  "Intisari-Online.com - Cengkih dan pala dari Maluku pernah lebih mahal daripada emas di pasar-pasar Eropa.",
                  "Harga yang tinggi itu mendorong pelaut Portugis, Spanyol, dan Belanda berlomba mencari jalan laut menuju kepulauan rempah.",
                  "Perebutan jalur dagang tersebut kemudian berujung pada penjajahan yang berlangsung selama berabad-abad.",
                  "Kini jalur rempah diusulkan menjadi warisan budaya dunia kepada UNESCO.",
              ], 2),
        story("033200004", "rahasia-arsitektur-candi-borobudur-tahan-gempa",
              "Rahasia Arsitektur Candi Borobudur yang Tahan Gempa Selama Ribuan Tahun", [
                  "Intisari-Online.com - Candi Borobudur telah berdiri lebih dari seribu dua ratus tahun meski berada di kawasan rawan gempa.",
                  "Para ahli menemukan bahwa batu-batu candi disusun dengan sistem kunci tanpa perekat sehingga bisa sedikit bergeser saat tanah berguncang.",
                  "Lapisan tanah urukan di bawah candi juga berfungsi meredam getaran dari dalam bumi.",
                  "Teknik itu kini dipelajari oleh insinyur yang merancang bangunan tahan gempa modern.",
              ], 1),
    ]


@dataclass
class PortalStory:
    """A story of the syndicating portal (served for the ``localhost`` host name)."""

    id: str
    slug: str
    title: str
    published: datetime
    paragraphs: list[str]
    inline: dict[int, list[str]] = field(default_factory=dict)  # portal story ids
    # the original this story copies (None: a story of its own)
    source: str | None = None
    # rel=canonical names the original on the other site (off-site: must be ignored)
    canonical_to_source: bool = False

    @property
    def path(self) -> str:
        return f"/news/{self.id}/{self.slug}"


def _dateline(paras: list[str], portal: str = "NusantaraNews.id") -> list[str]:
    out = list(paras)
    first = out[0]
    for prefix in ("Intisari-Online.com - ", "Intisari-online.com - "):
        if first.startswith(prefix):
            first = f"{portal} - " + first[len(prefix):]
    out[0] = first
    return out


def portal_stories(originals: list[Story]) -> list[PortalStory]:
    """Near-copies (new headline, own dateline, a sentence or two changed, other Baca Juga
    lines), an exact copy, an earlier-published copy, and a different story on the same
    topic."""
    by_id = {s.id: s for s in originals}
    seed = by_id["033112345"]
    seed_paras = _dateline(seed.paragraphs)
    seed_paras[3] = "Namun, Moskow segera menolak komentar Washington itu dan menyebutnya provokasi."
    seed_paras[-1] = "Kedua negara dijadwalkan bertemu di Jenewa untuk membahas krisis Ukraina."
    kazakh = _dateline(by_id["033100003"].paragraphs)
    kazakh[-1] = ("Sementara itu pasukan dari negara-negara anggota CSTO mulai tiba di "
                  "bandara Almaty untuk menjaga fasilitas vital.")
    oil = _dateline(by_id["033100009"].paragraphs)
    oil[-1] = "Para pedagang khawatir gangguan pasokan berlanjut jika kerusuhan tidak mereda."
    return [
        PortalStory("8801", "rusia-murka-singgung-invasi-as-ke-irak",
                    "Rusia Murka, Singgung Invasi AS ke Irak Usai Komentar Blinken soal Kazakhstan",
                    seed.published + timedelta(hours=3), seed_paras,
                    inline={4: ["8805"], 12: ["8803"]}, source=seed.id),
        PortalStory("8802", "tokayev-izinkan-aparat-tembak-tanpa-peringatan",
                    "Tokayev Izinkan Aparat Tembak Tanpa Peringatan, Aktivis Khawatir",
                    by_id["033100003"].published + timedelta(hours=2), kazakh,
                    inline={1: ["8805"]}, source="033100003", canonical_to_source=True),
        PortalStory("8803", "rusia-tuding-ukraina-biarkan-simbol-perang-dunia",
                    "Rusia Tuding Ukraina Biarkan Simbol Era Perang Dunia Kedua",
                    by_id["033100004"].published + timedelta(hours=1),
                    list(by_id["033100004"].paragraphs), inline={2: ["8802"]},
                    source="033100004"),
        PortalStory("8804", "produksi-tengiz-terganggu-harga-minyak-melonjak",
                    "Produksi Tengiz Terganggu, Harga Minyak Dunia Melonjak",
                    by_id["033100009"].published - timedelta(hours=5), oil,
                    inline={2: ["8801"]}, source="033100009"),
        PortalStory("8805", "warga-almaty-antre-roti-setelah-kerusuhan",
                    "Warga Almaty Antre Roti dan Bensin Setelah Kerusuhan Mereda",
                    datetime(2022, 1, 9, 12, 0, tzinfo=WIB), [
                        "NusantaraNews.id - Warga Almaty mulai keluar rumah untuk membeli roti dan bensin setelah kerusuhan di kota itu mereda.",
                        "Antrean panjang terlihat di depan toko roti dan stasiun pengisian bahan bakar sejak pagi hari.",
                        "Akses internet yang diputus selama beberapa hari juga mulai pulih di sebagian wilayah kota.",
                        "Pemerintah Kazakhstan menyatakan keadaan darurat tetap berlaku hingga pertengahan Januari.",
                    ]),
    ]
